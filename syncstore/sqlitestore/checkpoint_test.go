package sqlitestore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// walFrames is the WAL's length in frames. It asks on the checkpointer's
// own connection (a pool of one), so that its PASSIVE checkpoint never
// runs beside the checkpointer's: SQLite answers a checkpoint that finds
// another one running busy, with -1 frames (a -race run failed so).
func walFrames(t *testing.T, s *Store) int64 {
	t.Helper()
	var busy, frames, copied int64
	if err := s.checkpoints.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Fatalf("PASSIVE checkpoint busy (%d frames)", frames)
	}
	return frames
}

// walFixture is a store with one user whose uploads (100 records of
// 4,000 bytes each) grow the WAL, for the checkpoint tests.
type walFixture struct {
	t       *testing.T
	ctx     context.Context
	s       *Store
	u       *syncstore.User
	payload string
	batches int
}

// newWALFixture opens a store whose checkpointer restarts the WAL past
// restartAt frames: the default threshold (128 MiB of WAL) would make a
// test write a quarter of a gigabyte, and the mechanism is the same.
func newWALFixture(t *testing.T, restartAt int64) *walFixture {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.checkpoints.restartAt.Store(restartAt)
	u := &syncstore.User{Name: "alice", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return &walFixture{t: t, ctx: ctx, s: s, u: u, payload: strings.Repeat("p", 4000)}
}

// write uploads the next batch.
func (f *walFixture) write() {
	f.t.Helper()
	recs := make([]syncstore.WBO, 100)
	for i := range recs {
		recs[i] = syncstore.WBO{ID: "r" + strconv.Itoa(f.batches*100+i), Payload: &f.payload}
	}
	f.batches++
	if _, err := f.s.PutRecords(f.ctx, f.u.ID, "history", recs, syncstore.WriteOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// snapshot starts a reader that stays in the snapshot of the WAL's last
// frame until end: while it does, the WAL cannot start over.
func (f *walFixture) snapshot() *sql.Conn {
	f.t.Helper()
	conn, err := f.s.reader.Conn(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := conn.ExecContext(f.ctx, "BEGIN"); err != nil {
		f.t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(f.ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return conn
}

func (f *walFixture) end(conn *sql.Conn) {
	f.t.Helper()
	if _, err := conn.ExecContext(f.ctx, "COMMIT"); err != nil {
		f.t.Fatal(err)
	}
	conn.Close()
}

// grow writes, a reader holding the WAL back, until it holds at least
// restartAt frames.
func (f *walFixture) grow() {
	f.t.Helper()
	restartAt := f.s.checkpoints.restartAt.Load()
	conn := f.snapshot()
	for int64(f.batches*100*len(f.payload)) < 2*restartAt*4096 {
		f.write()
	}
	if n := walFrames(f.t, f.s); n < restartAt {
		f.t.Fatalf("test premise: the WAL holds %d frames, want at least %d", n, restartAt)
	}
	f.end(conn)
}

// TestCheckpointRestartsLongWAL: once the WAL is longer than the restart
// threshold, a checkpoint lets the next write start it over, and the
// data stays whole.
func TestCheckpointRestartsLongWAL(t *testing.T) {
	const restartAt = 4096
	f := newWALFixture(t, restartAt)
	f.grow()
	if restarted, err := f.s.checkpoints.checkpoint(f.ctx); err != nil || !restarted {
		t.Fatalf("checkpoint of the long WAL, its reader gone: restarted %v, error %v", restarted, err)
	}
	f.write()
	if n := walFrames(t, f.s); n >= restartAt {
		t.Errorf("after a checkpoint of the long WAL and one write, the WAL holds %d frames", n)
	}
	counts, err := f.s.CollectionCounts(f.ctx, f.u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts["history"] != int64(f.batches*100) {
		t.Errorf("history holds %d records, want %d", counts["history"], f.batches*100)
	}
}

// TestCheckpointRestartOutwaitsReaders: the RESTART under the write gate
// does not sleep in SQLite's busy handler (its connection has no busy
// timeout) but looks again until the reader of the old frames is gone,
// and then starts the WAL over within the same checkpoint.
func TestCheckpointRestartOutwaitsReaders(t *testing.T) {
	const restartAt = 256
	f := newWALFixture(t, restartAt)
	s := f.s
	var timeout int
	if err := s.checkpoints.db.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != 0 {
		t.Errorf("the checkpoint connection's busy timeout is %d ms, want 0 (restart polls)", timeout)
	}
	// The test runs the checkpoints itself, with its own write gate;
	// however late the reader below lets go, the RESTART is still
	// waiting for it.
	s.checkpoints.halt()
	s.checkpoints.restartWait.Store(int64(time.Minute))
	f.grow()
	// A reader in the snapshot of the WAL's last frame: the PASSIVE
	// checkpoints copy everything back, but the RESTART has to wait for
	// it to finish.
	conn := f.snapshot()
	defer conn.Close()
	hold := s.checkpoints.holdWrites
	var busyFirst bool
	released := make(chan error, 1)
	s.checkpoints.holdWrites = func(ctx context.Context, fn func() error) error {
		return hold(ctx, func() error {
			r, err := s.checkpoints.run1("RESTART")
			if err != nil {
				return err
			}
			busyFirst = r.busy
			go func() {
				_, err := conn.ExecContext(ctx, "COMMIT")
				released <- err
			}()
			return fn()
		})
	}
	restarted, err := s.checkpoints.checkpoint(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if !busyFirst {
		t.Fatal("test premise: a RESTART while the reader is in its snapshot should find it busy")
	}
	if !restarted {
		t.Error("the RESTART gave up while its reader finished: it should look again until the reader is gone")
	}
	f.write()
	if n := walFrames(t, s); n >= restartAt {
		t.Errorf("after a checkpoint whose reader finished during its RESTART, and one write, the WAL holds %d frames", n)
	}
}
