package sqlitestore

import (
	"context"
	"strconv"
	"strings"
	"testing"

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
	if err := s.checkpoints.checkpoint(); err != nil {
		t.Fatal(err)
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
