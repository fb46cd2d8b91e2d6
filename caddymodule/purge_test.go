package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// expiredRecords stores n records whose TTL expired an hour ago and one
// without a TTL in a new SQLite database in dir.
func expiredRecords(t *testing.T, dir string, n int) {
	t.Helper()
	s := openSQLite(t, dir, func() time.Time { return time.Now().Add(-time.Hour) })
	ctx := context.Background()
	u := &syncstore.User{Name: "purgeuser", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ttl := int64(60)
	payload := "tab"
	recs := []syncstore.WBO{{ID: "kept", Payload: &payload}}
	for i := range n {
		recs = append(recs, syncstore.WBO{ID: fmt.Sprintf("expired%d", i), Payload: &payload, TTL: &ttl})
	}
	for chunk := range slices.Chunk(recs, 100) {
		if _, err := s.PutRecords(ctx, u.ID, "tabs", chunk, syncstore.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

// TestPurgeInBatches: the purge goes batch by batch, reporting the
// running total after each, and stops at the first short batch.
func TestPurgeInBatches(t *testing.T) {
	dir := t.TempDir()
	expiredRecords(t, dir, 250)
	s := openSQLite(t, dir, nil)
	var seen []int64
	n, err := purgeExpired(context.Background(), s, time.Now(), 100, func(d int64) { seen = append(seen, d) })
	if err != nil || n != 250 || !slices.Equal(seen, []int64{100, 200, 250}) {
		t.Errorf("purge: %d, %v, batches %v; want 250 in 100, 200, 250", n, err, seen)
	}
	if _, err := purgeExpired(context.Background(), s, time.Now(), 0, nil); err == nil {
		t.Error("a batch of 0: no error")
	}
}

// TestPurgeCommandBatches: --batch sets the transaction size; off a
// terminal the command's standard error gets no bar, its standard output
// the total.
func TestPurgeCommandBatches(t *testing.T) {
	dir := t.TempDir()
	expiredRecords(t, dir, 250)
	out, stderr, err := runCommandStderr(t, setupPurgeCommand, "", "--data", dir, "--batch", "100")
	if err != nil || out != "deleted 250 expired records\n" {
		t.Fatalf("purge --batch 100: %q, %v", out, err)
	}
	if strings.ContainsAny(stderr, "\r") {
		t.Errorf("a spinner off a terminal: %q", stderr)
	}
	if _, _, err := runCommandStderr(t, setupPurgeCommand, "", "--data", dir, "--batch", "0"); err == nil || !strings.Contains(err.Error(), "--batch 0") {
		t.Errorf("--batch 0: %v", err)
	}
}

// TestPurgeProgress: a line per logEvery off a terminal; on one a spinner
// with the records deleted so far and their rate, wiped at the end.
func TestPurgeProgress(t *testing.T) {
	var lines bytes.Buffer
	p := newPurgeProgress(&lines, false, 0)
	p.batch(1000)
	p.batch(2000)
	p.finish()
	got := lines.String()
	if !strings.Contains(got, "purge: deleted 1000 expired records so far in ") ||
		!strings.Contains(got, "purge: deleted 2000 expired records so far in ") || strings.Count(got, "\n") != 2 {
		t.Errorf("log lines:\n%s", got)
	}
	lines.Reset()
	p = newPurgeProgress(&lines, false, time.Hour)
	p.batch(1000)
	if lines.Len() != 0 {
		t.Errorf("a line before logEvery: %q", lines.String())
	}

	var tty bytes.Buffer
	p = newPurgeProgress(&tty, true, purgeLogEvery)
	p.batch(1000)
	p.batch(2500)
	p.finish()
	got = tty.String()
	for _, want := range []string{"deleting expired records", "deleted 1000 expired records (", "deleted 2500 expired records (", " records/s) ["} {
		if !strings.Contains(got, want) {
			t.Errorf("spinner lacks %q:\n%q", want, got)
		}
	}
	if last := got[strings.LastIndex(got, "\r"):]; strings.TrimSpace(last) != "" {
		t.Errorf("spinner not wiped at the end: %q", last)
	}
}
