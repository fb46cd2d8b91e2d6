package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// Batch shape: the largest batch a client sends (100 records, just under
// 1 MB of payloads), so the write transaction takes long enough to be
// interrupted.
const (
	batchRecords = 100
	payloadBytes = 9_900
	crashUser    = "crash"
	crashPass    = "password-crash"
	crashColl    = "batch"
)

// crashTarget is where a child server keeps its data.
type crashTarget struct {
	driver, dir, dsn string
	// settle waits until the killed child's work is over on the server
	// side (MySQL rolls back once it sees the connection gone).
	settle func(t *testing.T)
	// writing waits until the store shows the batch's transaction at work
	// (SQLite appending to its write-ahead log, MySQL running one of its
	// writing statements), reporting false if that is not seen within a
	// few seconds.
	writing func(t *testing.T) bool
}

// TestKilledMidBatch kills the sync server (a child process) with SIGKILL
// while it handles a batch POST that rewrites every record of a
// collection: while the body is still arriving, as soon as the store is
// seen writing the batch, and at random moments after the body was sent.
// Reopened, the store holds either the whole old version or the whole new
// one, with matching collection aggregates.
func TestKilledMidBatch(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		runCrashes(t, crashTarget{driver: "sqlite", dir: dir, settle: func(*testing.T) {}, writing: walGrowing(filepath.Join(dir, sqlitestore.DBFile+"-wal"))})
	})
	t.Run("mysql", func(t *testing.T) {
		runCrashes(t, mysqlCrashTarget(t))
	})
}

// mysqlCrashTarget creates hrd_crash_<random> on the shared server.
func mysqlCrashTarget(t *testing.T) crashTarget {
	cfg, err := mysql.ParseDSN(testservices.NewMySQLDatabase(t, "hrd_crash_"))
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.DBName
	admin := testservices.MySQLAdmin(t)
	// Both probes try the user's row lock, which every write transaction
	// takes first and holds until it commits or rolls back, with NOWAIT:
	// held means the batch is being written. (Polling
	// information_schema.processlist for the statements instead crashed
	// MariaDB 10.11 with signal 11 while the killed server's connections
	// were being torn down.)
	lockHeld := func(t *testing.T) bool {
		_, err := admin.Exec("SELECT id FROM `"+name+"`.users WHERE name = ? FOR UPDATE NOWAIT", crashUser)
		var me *mysql.MySQLError
		switch {
		case err == nil:
			return false
		case errors.As(err, &me) && me.Number == 1205: // lock wait timeout: NOWAIT found it held
			return true
		}
		t.Fatal(err)
		return false
	}
	writing := func(t *testing.T) bool {
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if lockHeld(t) {
				return true
			}
			time.Sleep(100 * time.Microsecond)
		}
		return false
	}
	return crashTarget{driver: "mysql", dsn: cfg.FormatDSN(), writing: writing, settle: func(t *testing.T) {
		// The server rolls the killed connection's transaction back once
		// it notices the connection gone, which releases the row lock.
		deadline := time.Now().Add(20 * time.Second)
		for lockHeld(t) {
			if time.Now().After(deadline) {
				t.Fatalf("the killed server's transaction still holds its lock after 20 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}}
}

func runCrashes(t *testing.T, target crashTarget) {
	seed := uint64(time.Now().UnixNano())
	rng := mrand.New(mrand.NewPCG(seed, 0))
	t.Logf("kill delays seeded with %d", seed)

	// Version 0 of every record, written directly.
	store := target.open(t)
	ctx := context.Background()
	hash, err := syncstore.HashPassword(crashPass, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := &syncstore.User{Name: crashUser, PasswordHash: hash}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var recs []syncstore.WBO
	for _, r := range batch(0) {
		recs = append(recs, syncstore.WBO{ID: r["id"], Payload: ptr(r["payload"])})
	}
	if _, err := store.PutRecords(ctx, u.ID, crashColl, recs, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	// Uninterrupted, to learn how long a batch takes from the last byte
	// sent to the answer.
	child := startChild(t, target)
	took := child.post(t, 1, len(batchBody(1)), 0, true)
	child.kill(t)
	target.settle(t)
	current := target.check(t, 1, 1)
	t.Logf("a batch takes %v after its last byte", took)

	outcomes := map[string]int{}
	version := 1
	// crash sends version+1 as kind says, kills the child and checks that
	// the batch is all or nothing.
	crash := func(kind string) string {
		version++
		child := startChild(t, target)
		body := batchBody(version)
		switch kind {
		case "during upload":
			child.post(t, version, len(body)/2, 20*time.Millisecond, false)
		case "in the transaction":
			child.post(t, version, len(body), 0, false)
			if !target.writing(t) {
				kind = "transaction not seen"
			}
		default:
			delay := time.Duration(rng.Int64N(int64(took)*3 + 1))
			child.post(t, version, len(body), delay, false)
		}
		child.kill(t)
		target.settle(t)
		got := target.check(t, current, version)
		if kind == "during upload" && got != current {
			t.Errorf("version %d: killed during the upload, yet the batch was written", version)
		}
		outcome := "none written"
		if got == version {
			outcome = "all written"
		}
		outcomes[kind+": "+outcome]++
		current = got
		return kind
	}
	for range 2 {
		crash("during upload")
	}
	// Killed once the store is seen writing, until that worked three
	// times: the interesting case, but its timing is up to the scheduler.
	for seen, tries := 0, 0; seen < 3 && tries < 8; tries++ {
		if crash("in the transaction") == "in the transaction" {
			seen++
		}
	}
	for range 10 {
		crash("after upload")
	}
	t.Logf("outcomes: %v", outcomes)
}

func ptr[T any](v T) *T { return &v }

func (c crashTarget) open(t *testing.T) syncstore.Store {
	t.Helper()
	s, err := openStore(c.driver, c.dir, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check reopens the store (SQLite recovers its journal here) and returns
// the version the collection holds, which must be old or new, for every
// record, with aggregates to match.
func (c crashTarget) check(t *testing.T, old, new int) int {
	t.Helper()
	store := c.open(t)
	defer store.Close()
	ctx := context.Background()
	u, err := store.LookupUser(ctx, crashUser)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.GetRecords(ctx, u.ID, crashColl, &syncstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != batchRecords {
		t.Fatalf("version %d: %d records after the kill, want %d", new, len(recs), batchRecords)
	}
	versions := map[int]int{}
	var bytes int64
	var newest syncstore.Timestamp
	for _, r := range recs {
		var v int
		if _, err := fmt.Sscanf(*r.Payload, "v%d-", &v); err != nil {
			t.Fatalf("record %s: payload %.20q", r.ID, *r.Payload)
		}
		if *r.Payload != payload(v, r.ID) {
			t.Fatalf("record %s: payload of version %d is damaged", r.ID, v)
		}
		versions[v]++
		bytes += r.PayloadSize()
		newest = max(newest, r.Modified)
	}
	if len(versions) != 1 {
		t.Fatalf("version %d: the collection mixes versions %v: the batch was partly written", new, versions)
	}
	var got int
	for v := range versions {
		got = v
	}
	if got != old && got != new {
		t.Fatalf("collection holds version %d, want %d or %d", got, old, new)
	}
	counts, err := store.CollectionCounts(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := store.CollectionUsage(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	stamps, err := store.CollectionTimestamps(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts[crashColl] != batchRecords || usage[crashColl] != bytes || stamps[crashColl] != newest {
		t.Fatalf("version %d: aggregates count %d usage %d modified %v; records say %d, %d, %v",
			got, counts[crashColl], usage[crashColl], stamps[crashColl], batchRecords, bytes, newest)
	}
	return got
}

func payload(version int, id string) string {
	p := fmt.Sprintf("v%d-%s-", version, id)
	return p + strings.Repeat("x", payloadBytes-len(p))
}

func batch(version int) []map[string]string {
	var recs []map[string]string
	for i := range batchRecords {
		id := fmt.Sprintf("r%03d", i)
		recs = append(recs, map[string]string{"id": id, "payload": payload(version, id)})
	}
	return recs
}

func batchBody(version int) []byte {
	b, _ := json.Marshal(batch(version))
	return b
}

// childServer is a running child process serving the protocol.
type childServer struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	// conns stay open until the kill: a client hanging up would cancel
	// the request before the kill could interrupt it.
	conns []net.Conn
}

func startChild(t *testing.T, target crashTarget) *childServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDriver+"="+target.driver, childDir+"="+target.dir, childDSN+"="+target.dsn)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &childServer{cmd: cmd, stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening ")
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child server: %q\n%s", s, c.stderr)
		}
		c.addr = addr
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child server did not start in 30 s\n%s", c.stderr)
	}
	return c
}

// post sends the batch of the given version, the first n bytes of its
// body only. With wait it reads the answer, which must be a full success,
// and returns how long it took after the last byte; otherwise it waits
// delay and returns, leaving the request to the kill.
func (c *childServer) post(t *testing.T, version, n int, delay time.Duration, wait bool) time.Duration {
	t.Helper()
	body := batchBody(version)
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.conns = append(c.conns, conn)
	auth := base64.StdEncoding.EncodeToString([]byte(crashUser + ":" + crashPass))
	head := fmt.Sprintf("POST /1.1/%s/storage/%s HTTP/1.1\r\nHost: sync\r\nAuthorization: Basic %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
		crashUser, crashColl, auth, len(body))
	if _, err := conn.Write(append([]byte(head), body[:n]...)); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if !wait {
		time.Sleep(delay)
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(sent)
	defer resp.Body.Close()
	var res struct {
		Success []string
		Failed  map[string][]string
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK ||
		len(res.Success) != batchRecords || len(res.Failed) != 0 {
		t.Fatalf("batch: %d, %d stored, failed %v, %v", resp.StatusCode, len(res.Success), res.Failed, err)
	}
	return took
}

func (c *childServer) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait() // "signal: killed"
	for _, conn := range c.conns {
		conn.Close()
	}
}

// walGrowing watches SQLite's write-ahead log: in WAL mode a transaction's
// pages are appended to it as it commits, so growth means the commit is
// under way.
func walGrowing(path string) func(t *testing.T) bool {
	return func(t *testing.T) bool {
		size := func() int64 {
			fi, err := os.Stat(path)
			if err != nil {
				return 0
			}
			return fi.Size()
		}
		start := size()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if size() != start {
				return true
			}
			time.Sleep(50 * time.Microsecond)
		}
		return false
	}
}
