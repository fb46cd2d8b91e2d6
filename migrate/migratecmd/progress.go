package migratecmd

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/syncserver/syncserver/migrate"
)

// reporter shows a run's progress: a bar redrawn in place when the output
// is a terminal, a log line every logEvery otherwise (logs, CI, pipes).
type reporter struct {
	out      io.Writer
	bar      *progressbar.ProgressBar // nil unless on a terminal
	progress *migrate.Progress
	logger   *zap.Logger
}

const (
	barEvery = 250 * time.Millisecond
	logEvery = 10 * time.Second
	barWidth = 24
)

// isTerminal reports whether w is a terminal, where a bar can be redrawn
// in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newReporter writes to out, drawing a bar when tty is set (isTerminal(out)
// for the command; tests choose); jsonLogs selects JSON log lines instead
// of plain text ones.
func newReporter(out io.Writer, tty bool, total int, jsonLogs bool) *reporter {
	r := &reporter{out: out, progress: migrate.NewProgress(total)}
	level := zapcore.InfoLevel
	var sink io.Writer = out
	if tty {
		r.bar = progressbar.NewOptions(max(total, 1),
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetWidth(barWidth),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("users"),
			// The library's ETA divides by a rate that is zero until the
			// first user finishes; Snapshot.ETA says "?" instead.
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
		// Per-user lines would scroll the bar away; failures still show,
		// above it.
		level = zapcore.WarnLevel
		sink = barWriter{r.bar}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	encoder := zapcore.NewConsoleEncoder(enc)
	if jsonLogs {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	r.logger = zap.New(zapcore.NewCore(encoder, zapcore.AddSync(sink), level))
	return r
}

// barWriter hands log lines to the bar, which prints them above itself at
// its next redraw instead of tearing it.
type barWriter struct{ bar *progressbar.ProgressBar }

func (w barWriter) Write(p []byte) (int, error) {
	if _, err := progressbar.Bprintf(w.bar, "%s", p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// start begins the periodic display and returns the function that ends
// it with a last update.
func (r *reporter) start() func() {
	every := logEvery
	if r.bar != nil {
		every = barEvery
		_ = r.bar.RenderBlank()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.show(r.progress.Snapshot(), false)
			case <-done:
				r.show(r.progress.Snapshot(), true)
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// rates are a snapshot's throughput since the start.
func rates(s migrate.Snapshot) (recordsPerSec float64, bytesPerSec int64, eta string) {
	secs := max(s.Elapsed.Seconds(), 0.001)
	eta = "?"
	if d, ok := s.ETA(); ok {
		eta = d.Round(time.Second).String()
	}
	return float64(s.Records) / secs, int64(float64(s.Bytes) / secs), eta
}

// show draws s: the bar's counters and the text after it on a terminal, a
// log line otherwise. final ends the bar's line.
func (r *reporter) show(s migrate.Snapshot, final bool) {
	recRate, byteRate, eta := rates(s)
	if r.bar == nil {
		r.logger.Info("progress", zap.Int("users_done", s.Done), zap.Int("users_total", s.Total), zap.Int("failed", s.Failed),
			zap.Int64("records", s.Records), zap.Float64("records_per_s", float64(int64(recRate))),
			zap.String("bytes_per_s", migrate.FormatBytes(byteRate)), zap.String("eta", eta))
		return
	}
	// Describe before Set: once Set fills the bar it is drawn for the
	// last time, with the description it has then.
	r.bar.Describe(fmt.Sprintf("%d failed · %d records · %.0f rec/s · %s/s · ETA %s",
		s.Failed, s.Records, recRate, migrate.FormatBytes(byteRate), eta))
	_ = r.bar.Set(s.Done)
	if final {
		if s.Done < s.Total {
			// Interrupted: keep the bar as it stands.
			_ = r.bar.Exit()
		}
		fmt.Fprintln(r.out)
	}
}
