package bench

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestProgressSeedBar: on a terminal seeding is a bar of accounts done
// out of the total, with their rate and the time spent and left; the bar
// ends its line when seeding ends, or stays as it stood if interrupted.
func TestProgressSeedBar(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true, every: time.Second}
	var done atomic.Int64
	noLine := func(time.Duration) string { t.Error("a log line on a terminal"); return "" }
	stop := p.trackCount("sqlite: seeding (direct) ", "accounts", 4, done.Load, noLine)
	done.Store(4)
	stop()
	got := out.String()
	for _, want := range []string{"\rsqlite: seeding (direct)    0% |", "(0/4, ", "\rsqlite: seeding (direct)  100% |██████████████████████████████|", "(4/4, ", " accounts/"} {
		if !strings.Contains(got, want) {
			t.Errorf("bar lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("bar line not ended:\n%q", got)
	}

	out.Reset()
	done.Store(1)
	stop = p.trackCount("mysql: seeding (http) ", "accounts", 4, done.Load, noLine)
	stop()
	got = out.String()
	if !strings.Contains(got, "  25% |") || !strings.Contains(got, "(1/4, ") || strings.Contains(got, "100%") || !strings.HasSuffix(got, "\n") {
		t.Errorf("interrupted bar:\n%q", got)
	}
}

// TestProgressNotATerminal: a buffer, a pipe or a file gets the periodic
// lines (TestProgressLines), never a bar.
func TestProgressNotATerminal(t *testing.T) {
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	defer wr.Close()
	var buf bytes.Buffer
	for name, p := range map[string]*progress{"buffer": newProgress(&buf), "pipe": newProgress(wr)} {
		if p.tty || p.every != 10*time.Second {
			t.Errorf("%s: tty %v, every %v", name, p.tty, p.every)
		}
	}
	p := newProgress(&buf)
	p.every = time.Millisecond
	var done atomic.Int64
	done.Store(2)
	stop := p.trackCount("x ", "accounts", 4, done.Load, func(time.Duration) string { return "seeding 2/4 accounts" })
	time.Sleep(5 * time.Millisecond)
	stop()
	// However many ticks the machine managed: lines, no bar.
	if got := strings.ReplaceAll(buf.String(), "seeding 2/4 accounts\n", ""); got != "" {
		t.Errorf("off a terminal: %q", buf.String())
	}
}

// TestProgressSliceLines: a step interleaved in slices records every
// slice into one recorder; the lines of a slice count that slice's
// requests, errors and sessions alone, and its rate from them (the soak's
// slice 7 printed the step's 85,224 requests so far over its own 5 s).
func TestProgressSliceLines(t *testing.T) {
	start := time.Now()
	rec := newRecorder(start, start)
	bad := &failure{kind: "status", detail: "500"}
	for i := range 100 {
		var f *failure
		if i < 3 {
			f = bad
		}
		rec.request(epPost, start, time.Millisecond, f, 0)
		rec.session(sessionOK)
	}
	var out bytes.Buffer
	p := newProgress(&out)
	p.every = time.Hour // the summary line only
	stop := p.trackStep("sqlite", "c=8 slice 2/120", rec, time.Now().Add(-2*time.Second))
	for i := range 10 {
		var f *failure
		if i == 0 {
			f = bad
		}
		rec.request(epPost, time.Now(), time.Millisecond, f, 0)
	}
	rec.session(sessionOK)
	stop()
	got := out.String()
	if !strings.Contains(got, ", 10 requests (") || !strings.Contains(got, ", 1 errors, 1 sessions") {
		t.Errorf("slice summary counts more than the slice: %q", got)
	}
	var secs, rate float64
	if _, err := fmt.Sscanf(got[strings.Index(got, "done in"):], "done in %fs, 10 requests (%f req/s)", &secs, &rate); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	if rate > 10/secs*1.1 || rate < 10/secs*0.9 {
		t.Errorf("slice rate %.1f req/s over %.1f s, want about %.1f", rate, secs, 10/secs)
	}
}
