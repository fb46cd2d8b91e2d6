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

// TestCheckpointRestartsLongWAL: once the WAL is longer than the restart
// threshold, a checkpoint lets the next write start it over, and the
// data stays whole.
func TestCheckpointRestartsLongWAL(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The default threshold (128 MiB of WAL) would make this test write
	// a quarter of a gigabyte; the mechanism is the same at 16 MiB.
	const restartAt = 4096
	s.checkpoints.restartAt.Store(restartAt)
	u := &syncstore.User{Name: "alice", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("p", 4000)
	write := func(batch int) {
		recs := make([]syncstore.WBO, 100)
		for i := range recs {
			recs[i] = syncstore.WBO{ID: "r" + strconv.Itoa(batch*100+i), Payload: &payload}
		}
		if _, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A reader that stays in its snapshot keeps the WAL from starting
	// over while it grows past restartAt.
	conn, err := s.reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	batches := 0
	for ; batches*100*len(payload) < 2*restartAt*4096; batches++ {
		write(batches)
	}
	if n := walFrames(t, s); n < restartAt {
		t.Fatalf("test premise: the WAL holds %d frames, want at least %d", n, restartAt)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if restarted, err := s.checkpoints.checkpoint(ctx); err != nil || !restarted {
		t.Fatalf("checkpoint of the long WAL, its reader gone: restarted %v, error %v", restarted, err)
	}
	write(batches)
	batches++
	if n := walFrames(t, s); n >= restartAt {
		t.Errorf("after a checkpoint of the long WAL and one write, the WAL holds %d frames", n)
	}
	counts, err := s.CollectionCounts(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts["history"] != int64(batches*100) {
		t.Errorf("history holds %d records, want %d", counts["history"], batches*100)
	}
}

// TestCheckpointRestartOutwaitsReaders: the RESTART under the write gate
// does not sleep in SQLite's busy handler (its connection has no busy
// timeout) but looks again until the reader of the old frames is gone,
// and then starts the WAL over within the same checkpoint.
func TestCheckpointRestartOutwaitsReaders(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var timeout int
	if err := s.checkpoints.db.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != 0 {
		t.Errorf("the checkpoint connection's busy timeout is %d ms, want 0 (restart polls)", timeout)
	}
	// The test runs the checkpoints itself, with its own write gate.
	s.checkpoints.halt()
	const restartAt = 256
	s.checkpoints.restartAt.Store(restartAt)
	// However late the reader below lets go, the RESTART is still
	// waiting for it.
	s.checkpoints.restartWait.Store(int64(time.Minute))
	u := &syncstore.User{Name: "alice", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("p", 4000)
	batch := 0
	write := func() {
		recs := make([]syncstore.WBO, 100)
		for i := range recs {
			recs[i] = syncstore.WBO{ID: "r" + strconv.Itoa(batch*100+i), Payload: &payload}
		}
		batch++
		if _, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A reader that stays in its snapshot lets the WAL grow past
	// restartAt; a second one then starts in the snapshot of the WAL's
	// last frame: the PASSIVE checkpoints copy everything back, but the
	// RESTART has to wait for it to finish.
	snapshot := func() *sql.Conn {
		conn, err := s.reader.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	first := snapshot()
	for batch*100*len(payload) < 2*restartAt*4096 {
		write()
	}
	if n := walFrames(t, s); n < restartAt {
		t.Fatalf("test premise: the WAL holds %d frames, want at least %d", n, restartAt)
	}
	if _, err := first.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	first.Close()
	conn := snapshot()
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
	restarted, err := s.checkpoints.checkpoint(ctx)
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
	write()
	if n := walFrames(t, s); n >= restartAt {
		t.Errorf("after a checkpoint whose reader finished during its RESTART, and one write, the WAL holds %d frames", n)
	}
}
