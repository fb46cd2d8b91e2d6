package bench

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// endpoint is a kind of request of the workload; results are kept per kind.
type endpoint int

const (
	epNodeWeave endpoint = iota
	epInfoCollections
	epMetaGlobal
	epCryptoKeys
	epGetNewer
	epPost
	epDelete
	numEndpoints
)

var endpointNames = [numEndpoints]string{
	epNodeWeave:       "GET node/weave",
	epInfoCollections: "GET info/collections",
	epMetaGlobal:      "GET meta/global",
	epCryptoKeys:      "GET crypto/keys",
	epGetNewer:        "GET storage/<c>?newer",
	epPost:            "POST storage/<c>",
	epDelete:          "DELETE storage/<c>?ids",
}

func (e endpoint) String() string { return endpointNames[e] }

// sessionOutcome is how a session ended.
type sessionOutcome int

const (
	sessionOK     sessionOutcome = iota
	sessionFailed                // stopped at a wrong answer, as a client aborts its sync
	sessionCut                   // stopped by the step's deadline or request budget
)

type endpointStats struct {
	hist   Histogram
	errors int64
}

type secondStats struct {
	hist   Histogram
	errors int64
}

// recorder collects one step's measurements. Every request is counted once,
// under its endpoint, with at most one error kind, so requests = Σ endpoint
// counts and errors = Σ errors by kind.
type recorder struct {
	origin time.Time // start of the target's first step: the timeline's zero
	begun  time.Time // start of this step
	// start is when the step would have begun had it run in one piece
	// up to the current slice: seconds are counted from it, so the
	// slices of a step make one timeline without the gaps between them.
	start  time.Time
	active time.Duration // the step's slices so far

	mu            sync.Mutex
	endpoints     [numEndpoints]endpointStats
	errorsByKind  map[string]int64
	requests      int64
	errors        int64
	sessions      int64
	sessionErrors int64
	sessionsCut   int64
	dropped       int64
	seconds       map[int]*secondStats
	examples      map[string][]string
	// quirks count the answers that showed each legacy quirk: information
	// about a legacy target, not errors.
	quirks        [numQuirks]int64
	quirkExamples map[string]string
}

// maxExamples is how many sample messages of each error kind a step keeps.
const maxExamples = 3

func newRecorder(origin, start time.Time) *recorder {
	return &recorder{
		origin:        origin,
		begun:         start,
		start:         start,
		errorsByKind:  make(map[string]int64),
		seconds:       make(map[int]*secondStats),
		examples:      make(map[string][]string),
		quirkExamples: make(map[string]string),
	}
}

// request records one finished request; f is nil for a correct answer,
// quirks are the legacy quirks it showed.
func (r *recorder) request(ep endpoint, done time.Time, latency time.Duration, f *failure, quirks quirkSet) {
	sec := max(int(done.Sub(r.start)/time.Second), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	e := &r.endpoints[ep]
	e.hist.Record(latency)
	s := r.seconds[sec]
	if s == nil {
		s = &secondStats{}
		r.seconds[sec] = s
	}
	s.hist.Record(latency)
	quirks.each(func(q quirk) {
		r.quirks[q]++
		if _, ok := r.quirkExamples[q.String()]; !ok {
			r.quirkExamples[q.String()] = ep.String()
		}
	})
	if f != nil {
		r.errors++
		e.errors++
		s.errors++
		r.errorsByKind[f.kind]++
		if ex := r.examples[f.kind]; len(ex) < maxExamples {
			r.examples[f.kind] = append(ex, ep.String()+": "+f.detail)
		}
	}
}

func (r *recorder) session(o sessionOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch o {
	case sessionOK:
		r.sessions++
	case sessionFailed:
		r.sessions++
		r.sessionErrors++
	case sessionCut:
		r.sessionsCut++
	}
}

// drop counts a session a fixed-rate step could not start because too many
// were already in flight (the server is slower than the offered rate).
func (r *recorder) drop() {
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
}

// resume starts a slice of the step at t.
func (r *recorder) resume(t time.Time) {
	r.mu.Lock()
	r.start = t.Add(-r.active)
	r.mu.Unlock()
}

// pause ends a slice that took elapsed.
func (r *recorder) pause(elapsed time.Duration) {
	r.mu.Lock()
	r.active += elapsed
	r.mu.Unlock()
}

type progressSnapshot struct {
	requests, errors, sessions int64
}

// since is what was counted between base and s.
func (s progressSnapshot) since(base progressSnapshot) progressSnapshot {
	return progressSnapshot{requests: s.requests - base.requests, errors: s.errors - base.errors, sessions: s.sessions - base.sessions}
}

func (r *recorder) snapshot() progressSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return progressSnapshot{requests: r.requests, errors: r.errors, sessions: r.sessions}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(h *Histogram, errors int64) LatencySummary {
	return LatencySummary{
		Count:  int64(h.Count()),
		Errors: errors,
		MeanMS: ms(h.Mean()),
		P50MS:  ms(h.Quantile(0.50)),
		P95MS:  ms(h.Quantile(0.95)),
		P99MS:  ms(h.Quantile(0.99)),
		MaxMS:  ms(h.Max()),
	}
}

// result fills the measured fields of a step; elapsed is the step's wall
// time from its start to the end of its last request (of its slices
// together).
func (r *recorder) result(step *StepResult, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := elapsed.Seconds()
	step.StartS = r.begun.Sub(r.origin).Seconds()
	step.DurationS = secs
	step.Requests = r.requests
	step.Errors = r.errors
	step.Sessions = r.sessions
	step.SessionErrors = r.sessionErrors
	step.SessionsCut = r.sessionsCut
	step.SessionsDropped = r.dropped
	if secs > 0 {
		step.RequestsPerSec = float64(r.requests) / secs
		step.SessionsPerSec = float64(r.sessions) / secs
	}
	step.ErrorsByKind = maps.Clone(r.errorsByKind)
	step.ErrorExamples = maps.Clone(r.examples)
	step.LegacyQuirks = nil
	for q, n := range r.quirks {
		if n > 0 {
			if step.LegacyQuirks == nil {
				step.LegacyQuirks = map[string]int64{}
			}
			step.LegacyQuirks[quirk(q).String()] = n
		}
	}
	step.LegacyQuirkEndpoints = maps.Clone(r.quirkExamples)
	var all Histogram
	step.Endpoints = step.Endpoints[:0]
	for ep := range numEndpoints {
		e := &r.endpoints[ep]
		all.Merge(&e.hist)
		if e.hist.Count() == 0 {
			continue
		}
		step.Endpoints = append(step.Endpoints, EndpointResult{Name: ep.String(), LatencySummary: summarize(&e.hist, e.errors)})
	}
	step.Latency = summarize(&all, r.errors)
	step.Timeline = r.timeline(step.StartS, secs)
}

// timeline turns the per-second buckets into points. A last bucket that
// covers less than half a second (requests finishing after the deadline)
// is folded into the one before, so it does not show as a dip.
func (r *recorder) timeline(offset, elapsed float64) []TimePoint {
	secs := slices.Sorted(maps.Keys(r.seconds))
	if n := len(secs); n > 1 && elapsed-float64(secs[n-1]) < 0.5 {
		last := r.seconds[secs[n-1]]
		prev := r.seconds[secs[n-2]]
		prev.hist.Merge(&last.hist)
		prev.errors += last.errors
		delete(r.seconds, secs[n-1])
		secs = secs[:n-1]
	}
	out := make([]TimePoint, 0, len(secs))
	for i, sec := range secs {
		s := r.seconds[sec]
		covered := 1.0
		if i == len(secs)-1 {
			covered = max(elapsed-float64(sec), 0.5)
		}
		out = append(out, TimePoint{
			T:              offset + float64(sec),
			Requests:       int64(s.hist.Count()),
			RequestsPerSec: float64(s.hist.Count()) / covered,
			Errors:         s.errors,
			P50MS:          ms(s.hist.Quantile(0.50)),
			P95MS:          ms(s.hist.Quantile(0.95)),
			P99MS:          ms(s.hist.Quantile(0.99)),
		})
	}
	return out
}
