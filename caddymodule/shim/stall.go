package shim

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// errLegacyStalled cancels a legacy request whose answer stopped coming.
var errLegacyStalled = errors.New("the legacy answer stalled for the legacy timeout")

// stallWriter bounds the wait for a legacy answer's body. reverse_proxy's
// response_header_timeout bounds only the wait for the headers; a node
// that sends them and then nothing more would hold the client and both
// connections for as long as it likes. Once the headers are written the
// writer arms a timer that each write of the body re-arms; time spent in
// a write (a slow client) does not count. When it fires, stall cancels
// the request to the node, and reverse_proxy then aborts the client's
// transfer.
type stallWriter struct {
	http.ResponseWriter
	timeout time.Duration
	stall   func()

	mu     sync.Mutex
	timer  *time.Timer
	fired  bool
	closed bool
}

func newStallWriter(w http.ResponseWriter, timeout time.Duration, stall func()) *stallWriter {
	return &stallWriter{ResponseWriter: w, timeout: timeout, stall: stall}
}

// arm starts or restarts the timer.
func (s *stallWriter) arm() {
	if s.timeout <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.fired {
		return
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(s.timeout, s.fire)
		return
	}
	s.timer.Reset(s.timeout)
}

// pause stops the timer while the client is being written to.
func (s *stallWriter) pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *stallWriter) fire() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.fired = true
	s.mu.Unlock()
	s.stall()
}

// stop disarms the timer for good.
func (s *stallWriter) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// stalled reports whether the timer fired.
func (s *stallWriter) stalled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

func (s *stallWriter) WriteHeader(code int) {
	s.pause()
	s.ResponseWriter.WriteHeader(code)
	if code >= http.StatusOK {
		s.arm()
	}
}

func (s *stallWriter) Write(b []byte) (int, error) {
	s.pause()
	n, err := s.ResponseWriter.Write(b)
	s.arm()
	return n, err
}

// Flush passes a flush on and, like a write, does not count the time it
// takes.
func (s *stallWriter) Flush() {
	s.pause()
	_ = http.NewResponseController(s.ResponseWriter).Flush()
	s.arm()
}

// Unwrap lets http.ResponseController reach the connection.
func (s *stallWriter) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
}
