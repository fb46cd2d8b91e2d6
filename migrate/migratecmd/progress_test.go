package migratecmd

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
)

// TestReporterBar: on a terminal the run is a bar with users done out of
// the total, their rate, and after it failures, records, rates and the
// ETA; warnings print above the bar, per-user info lines not at all.
func TestReporterBar(t *testing.T) {
	var out bytes.Buffer
	r := newReporter(&out, true, 4, false)
	r.logger.Info("migrated user") // would scroll the bar away
	r.show(migrate.Snapshot{Total: 4, Done: 1, Failed: 1, Records: 500, Bytes: 4 << 20, Elapsed: 2 * time.Second}, false)
	r.logger.Warn("user failed")
	r.show(migrate.Snapshot{Total: 4, Done: 2, Failed: 1, Records: 900, Bytes: 6 << 20, Elapsed: 3 * time.Second}, false)
	got := out.String()
	for _, want := range []string{
		"\r  25% |██████", "(1/4, ", "users/", "1 failed · 500 records · 250 rec/s · 2.0 MiB/s · ETA 6s",
		"\r  50% |", "(2/4, ", "1 failed · 900 records · 300 rec/s · 2.0 MiB/s · ETA 3s",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bar output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "migrated user") {
		t.Errorf("an info line tore the bar:\n%q", got)
	}
	// The warning comes after the bar is wiped and before it is redrawn,
	// on a line of its own.
	i := strings.Index(got, "\twarn\tuser failed\n\r  25% |")
	if i < 0 || strings.Contains(got[strings.LastIndex(got[:i], "\r"):i], "|") {
		t.Errorf("warning not printed above the bar:\n%q", got)
	}

	out.Reset()
	r.show(migrate.Snapshot{Total: 4, Done: 4, Failed: 1, Records: 2000, Elapsed: 5 * time.Second}, true)
	got = out.String()
	if !strings.Contains(got, "100% |████████████████████████|") || !strings.Contains(got, "(4/4, ") ||
		!strings.Contains(got, "1 failed · 2000 records") || !strings.HasSuffix(got, "\n") {
		t.Errorf("last bar:\n%q", got)
	}
}

// TestReporterInterrupted: a run that stops early leaves the bar where it
// stood, and the summary starts on a line of its own.
func TestReporterInterrupted(t *testing.T) {
	var out bytes.Buffer
	r := newReporter(&out, true, 10, false)
	r.show(migrate.Snapshot{Total: 10, Done: 3, Records: 30, Elapsed: time.Second}, true)
	got := out.String()
	if !strings.Contains(got, "  30% |") || !strings.Contains(got, "(3/10, ") || !strings.HasSuffix(got, "\n") {
		t.Errorf("interrupted bar:\n%q", got)
	}
}

// TestReporterLogLines: off a terminal (a file, a pipe, a buffer) progress
// is a periodic log line, text or JSON, with no bar and no carriage
// return.
func TestReporterLogLines(t *testing.T) {
	s := migrate.Snapshot{Total: 4, Done: 1, Failed: 1, Records: 500, Bytes: 4 << 20, Elapsed: 2 * time.Second}
	for _, tc := range []struct {
		json bool
		want []string
	}{
		{false, []string{"info\tprogress\t", `"users_done": 1`, `"users_total": 4`, `"failed": 1`, `"records": 500`, `"records_per_s": 250`, `"eta": "6s"`}},
		{true, []string{`"msg":"progress"`, `"users_done":1`, `"failed":1`, `"records":500`, `"eta":"6s"`}},
	} {
		var out bytes.Buffer
		r := newReporter(&out, false, 4, tc.json)
		r.logger.Info("migrated user")
		r.show(s, false)
		got := out.String()
		for _, want := range append(tc.want, "migrated user") {
			if !strings.Contains(got, want) {
				t.Errorf("json %v: lacks %q:\n%s", tc.json, want, got)
			}
		}
		if strings.ContainsAny(got, "\r█|") {
			t.Errorf("json %v: a bar off a terminal:\n%q", tc.json, got)
		}
	}
}

// TestIsTerminal: a buffer, a pipe and a file get log lines.
func TestIsTerminal(t *testing.T) {
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	defer wr.Close()
	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, w := range map[string]any{"buffer": &bytes.Buffer{}, "pipe": wr, "file": f} {
		if isTerminal(w.(interface{ Write([]byte) (int, error) })) {
			t.Errorf("%s taken for a terminal", name)
		}
	}
}
