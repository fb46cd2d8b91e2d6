package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress prints what a run is doing: on a terminal a bar while seeding
// and a line per second while stepping; otherwise a line every ten
// seconds (logs, CI).
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	mu    sync.Mutex // one line at a time
}

// barEvery is how often a bar is brought up to date.
const barEvery = 250 * time.Millisecond

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 10 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		p.every = time.Second
	}
	return p
}

// trackCount shows done() out of total: a bar described by desc on a
// terminal (count, rate, elapsed and time left), line(elapsed) at the
// usual interval otherwise, until stop is called.
func (p *progress) trackCount(desc, unit string, total int, done func() int64, line func(elapsed time.Duration) string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	if !p.tty || total < 1 {
		return p.track(line)
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
	)
	_ = bar.RenderBlank()
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(barEvery)
		defer t.Stop()
		for {
			select {
			case <-finished:
				_ = bar.Set64(done())
				if !bar.IsFinished() {
					_ = bar.Exit() // interrupted: keep it as it stands
				}
				return
			case <-t.C:
				_ = bar.Set64(done())
			}
		}
	})
	return func() {
		close(finished)
		wg.Wait()
		p.mu.Lock()
		fmt.Fprintln(p.w)
		p.mu.Unlock()
	}
}

func (p *progress) println(line string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	fmt.Fprintln(p.w, line)
	p.mu.Unlock()
}

// track prints line(elapsed) periodically until stop is called.
func (p *progress) track(line func(elapsed time.Duration) string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.println(line(time.Since(start)))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// trackStep prints the requests, rate, errors and sessions of a step, or
// of one slice of it, and a summary line when it ends. rec may hold the
// step's earlier slices: what they counted is left out, so each slice's
// lines speak of that slice alone.
func (p *progress) trackStep(target, label string, rec *recorder, start time.Time) (stop func()) {
	base := rec.snapshot()
	last, lastAt := base, start
	line := func(now time.Time) string {
		s := rec.snapshot()
		rate := float64(s.requests-last.requests) / now.Sub(lastAt).Seconds()
		last, lastAt = s, now
		s = s.since(base)
		return fmt.Sprintf("%s %s: %4.0fs  requests %8d  %8.1f req/s  errors %d  sessions %d",
			target, label, now.Sub(start).Seconds(), s.requests, rate, s.errors, s.sessions)
	}
	stopTicker := p.track(func(time.Duration) string { return line(time.Now()) })
	return func() {
		stopTicker()
		s := rec.snapshot().since(base)
		elapsed := time.Since(start)
		p.println(fmt.Sprintf("%s %s: done in %.1fs, %d requests (%.1f req/s), %d errors, %d sessions",
			target, label, elapsed.Seconds(), s.requests, float64(s.requests)/elapsed.Seconds(), s.errors, s.sessions))
	}
}
