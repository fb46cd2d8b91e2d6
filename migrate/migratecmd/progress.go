package migratecmd

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/syncserver/syncserver/migrate"
)

// reporter shows a run's progress: a bar redrawn in place on a terminal,
// a log line every logEvery otherwise.
type reporter struct {
	out      io.Writer
	tty      bool
	progress *migrate.Progress
	logger   *zap.Logger
	mu       sync.Mutex // serialises bar redraws and log lines
}

const (
	barEvery = 250 * time.Millisecond
	logEvery = 10 * time.Second
)

// newReporter writes to out; jsonLogs selects JSON log lines instead of
// plain text ones.
func newReporter(out io.Writer, total int, jsonLogs bool) *reporter {
	r := &reporter{out: out, progress: migrate.NewProgress(total)}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.tty = true
	}
	level := zapcore.InfoLevel
	if r.tty {
		// Per-user lines would tear the bar; failures still show.
		level = zapcore.WarnLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	encoder := zapcore.NewConsoleEncoder(enc)
	if jsonLogs {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	core := zapcore.NewCore(encoder, zapcore.AddSync(lineWriter{r}), level)
	r.logger = zap.New(core)
	return r
}

// lineWriter clears the bar before a log line.
type lineWriter struct{ r *reporter }

func (w lineWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if w.r.tty {
		fmt.Fprint(w.r.out, "\r\033[K")
	}
	return w.r.out.Write(p)
}

// start begins the periodic display and returns the function that ends
// it with a last update.
func (r *reporter) start() func() {
	every := logEvery
	if r.tty {
		every = barEvery
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.show(false)
			case <-done:
				r.show(true)
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func (r *reporter) show(final bool) {
	s := r.progress.Snapshot()
	secs := max(s.Elapsed.Seconds(), 0.001)
	recRate := float64(s.Records) / secs
	byteRate := int64(float64(s.Bytes) / secs)
	eta := "?"
	if d, ok := s.ETA(); ok {
		eta = d.Round(time.Second).String()
	}
	if !r.tty {
		r.logger.Info("progress", zapInt("users_done", s.Done), zapInt("users_total", s.Total), zapInt("failed", s.Failed),
			zap.Int64("records", s.Records), zap.Float64("records_per_s", float64(int64(recRate))),
			zapString("bytes_per_s", migrate.FormatBytes(byteRate)), zapString("eta", eta))
		return
	}
	const width = 24
	filled := 0
	if s.Total > 0 {
		filled = width * s.Done / s.Total
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	line := fmt.Sprintf("[%s] %d/%d users  %d failed  %d records  %.0f rec/s  %s/s  ETA %s",
		bar, s.Done, s.Total, s.Failed, s.Records, recRate, migrate.FormatBytes(byteRate), eta)
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprint(r.out, "\r\033[K"+line)
	if final {
		fmt.Fprintln(r.out)
	}
}

func zapInt(k string, v int) zap.Field   { return zap.Int(k, v) }
func zapString(k, v string) zap.Field    { return zap.String(k, v) }
func zapBool(k string, v bool) zap.Field { return zap.Bool(k, v) }
