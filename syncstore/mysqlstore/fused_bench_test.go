package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// BenchmarkFusedTx compares the write requests of a store whose
// transactions send the statements whose results they ignore with their
// COMMIT (fusedtx.go) with those of one whose transactions do not, on the
// same database. Each iteration runs the request on both, alternating which
// goes first, so both see the same machine; it reports fused-ns/op,
// unfused-ns/op, their ratio and each one's round trips per request, and
// the CPU time each request cost this process (client-cpu-ns/op) and the
// server (server-cpu-ns/op): on a loaded machine the wall times drift
// with everything else that runs, the CPU a request costs much less. The
// server is a private mariadbd, so that its CPU time is this benchmark's
// alone. rtt delays every round trip by that much, as a database across
// a network would (0: loopback, where a round trip costs CPU and
// scheduling more than time on the wire).
func BenchmarkFusedTx(b *testing.B) {
	server := testservices.StartMariaDB(b)
	admin, err := sql.Open("mysql", server.DSN(""))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	for _, rtt := range []time.Duration{0, 250 * time.Microsecond} {
		b.Run("rtt="+rtt.String(), func(b *testing.B) {
			name := fmt.Sprintf("fused_%d", rtt.Microseconds())
			if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
				b.Fatal(err)
			}
			dsn := server.DSN(name)
			sides := []*fusedBenchSide{
				newFusedBenchSide(b, "fused", Config{DSN: dsn}, rtt, server.Pid()),
				newFusedBenchSide(b, "unfused", Config{DSN: dsn, noFusing: true}, rtt, server.Pid()),
			}
			b.Run("Post100", func(b *testing.B) {
				runFusedBench(b, sides, func(s *fusedBenchSide, i int) error {
					recs := s.records[(i%10)*100 : (i%10)*100+100]
					_, err := s.store.PutRecords(s.ctx, s.user, "history", recs, syncstore.WriteOptions{})
					return err
				}, nil)
			})
			b.Run("Delete10", func(b *testing.B) {
				var ids []string
				runFusedBench(b, sides, func(s *fusedBenchSide, i int) error {
					ids = ids[:0]
					for _, j := range s.rng.Perm(len(s.records))[:10] {
						ids = append(ids, s.records[j].ID)
					}
					_, err := s.store.DeleteRecords(s.ctx, s.user, "history", &syncstore.Query{IDs: ids}, syncstore.WriteOptions{})
					return err
				}, func(s *fusedBenchSide) error {
					// Put back what went, untimed, so every delete finds
					// 10 rows.
					back := make([]syncstore.WBO, 0, len(ids))
					for _, r := range s.records {
						for _, id := range ids {
							if r.ID == id {
								back = append(back, r)
							}
						}
					}
					_, err := s.store.PutRecords(s.ctx, s.user, "history", back, syncstore.WriteOptions{})
					return err
				})
			})
		})
	}
}

// fusedBenchSide is one store of BenchmarkFusedTx with its user's 1,000
// records.
type fusedBenchSide struct {
	name    string
	ctx     context.Context
	store   *Store
	turns   *turnCounter
	user    int64
	records []syncstore.WBO
	rng     *rand.Rand
	// serverPid is the mariadbd whose CPU time counts.
	serverPid int
	// elapsed, clientCPU and serverCPU add up the requests' times.
	elapsed, clientCPU, serverCPU time.Duration
}

func newFusedBenchSide(b *testing.B, name string, cfg Config, rtt time.Duration, serverPid int) *fusedBenchSide {
	b.Helper()
	turns := &turnCounter{delay: rtt}
	cfg.dial = turns.dial
	s := openStore(b, cfg)
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	u := &syncstore.User{Name: name, PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	side := &fusedBenchSide{name: name, ctx: ctx, store: s, turns: turns, user: u.ID, rng: rand.New(rand.NewPCG(1, 2)), serverPid: serverPid}
	for i := range 1000 {
		side.records = append(side.records, syncstore.WBO{ID: fmt.Sprintf("r%04d", i), Payload: ptr(strings.Repeat("p", 500))})
	}
	for i := 0; i < len(side.records); i += 100 {
		if _, err := s.PutRecords(ctx, u.ID, "history", side.records[i:i+100], syncstore.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return side
}

// runFusedBench times op on every side in each iteration, the sides in
// turns first, and runs reset after each (untimed, trips not counted).
func runFusedBench(b *testing.B, sides []*fusedBenchSide, op func(s *fusedBenchSide, i int) error, reset func(s *fusedBenchSide) error) {
	trips := make([]int, len(sides))
	for k, s := range sides {
		s.elapsed, s.clientCPU, s.serverCPU = 0, 0, 0
		trips[k] = 0
	}
	i := 0
	for b.Loop() {
		for k := range sides {
			k := (k + i) % len(sides)
			s := sides[k]
			before := s.turns.count()
			server0 := threadsCPU(b, fmt.Sprintf("/proc/%d/task", s.serverPid))
			client0 := processCPU(b)
			start := time.Now()
			if err := op(s, i); err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			s.elapsed += time.Since(start)
			s.clientCPU += processCPU(b) - client0
			s.serverCPU += threadsCPU(b, fmt.Sprintf("/proc/%d/task", s.serverPid)) - server0
			trips[k] += s.turns.count() - before
			if reset != nil {
				if err := reset(s); err != nil {
					b.Fatalf("%s: putting back: %v", s.name, err)
				}
			}
		}
		i++
	}
	for k, s := range sides {
		b.ReportMetric(float64(s.elapsed.Nanoseconds())/float64(i), s.name+"-ns/op")
		b.ReportMetric(float64(trips[k])/float64(i), s.name+"-trips/op")
		b.ReportMetric(float64(s.clientCPU.Nanoseconds())/float64(i), s.name+"-client-cpu-ns/op")
		b.ReportMetric(float64(s.serverCPU.Nanoseconds())/float64(i), s.name+"-server-cpu-ns/op")
	}
	b.ReportMetric(float64(sides[0].elapsed)/float64(sides[1].elapsed), sides[0].name+"/"+sides[1].name)
}

// processCPU is the CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadsCPU is the CPU time the threads under a /proc/<pid>/task
// directory have used, to the nanosecond (schedstat's first field).
func threadsCPU(b *testing.B, dir string) time.Duration {
	tasks, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			b.Fatalf("%s/schedstat: %v", t.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum
}
