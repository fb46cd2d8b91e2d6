package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// ResultsVersion is bumped when results.json changes incompatibly.
const ResultsVersion = 1

// Results is what a run writes to results.json and what compare reads.
type Results struct {
	Version  int            `json:"version"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Seed     uint64         `json:"seed"`
	Settings Settings       `json:"settings"`
	Targets  []TargetResult `json:"targets"`
}

// Settings records the knobs of a run, so two results.json files can be
// checked for comparability.
type Settings struct {
	Users          int           `json:"users"`
	RecordsPerUser int           `json:"records_per_user"`
	Devices        int           `json:"devices"`
	StepDuration   time.Duration `json:"step_duration_ns"`
	// Slice is the length of the slices the steps were cut into, which
	// went round the targets (0: each step in one piece).
	Slice       time.Duration `json:"slice_ns,omitempty"`
	MaxRequests int64         `json:"max_requests_per_step"`
	Concurrency []int         `json:"concurrency,omitempty"`
	Rates       []float64     `json:"rates,omitempty"`
	GrowthSizes []int         `json:"growth_sizes,omitempty"`
	Mix         Mix           `json:"mix"`
}

// TargetResult is one server's part of a run.
type TargetResult struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Legacy marks a legacy server or the shim in front of one: its
	// documented quirks were tolerated.
	Legacy bool         `json:"legacy,omitempty"`
	Seed   SeedResult   `json:"seed"`
	Steps  []StepResult `json:"steps"`
	Growth []StepResult `json:"growth,omitempty"`
	// Resources holds the server process's samples (--sample).
	Resources *Resources `json:"resources,omitempty"`
}

// SeedResult describes how the target's data set was put in place.
type SeedResult struct {
	Method   string  `json:"method"` // "http" or "direct"
	Users    int     `json:"users"`
	Records  int64   `json:"records"` // seeded records in the bench collections
	Reused   int     `json:"reused_users"`
	Duration float64 `json:"duration_s"`
}

// StepResult is one load level (a concurrency, a rate or a growth size).
type StepResult struct {
	Label       string  `json:"label"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	// NodeRecords is about how many records the target held when the step
	// started: what the bench seeded plus the new records its workload
	// uploaded before (other data on the server is not counted).
	NodeRecords int64 `json:"node_records"`

	StartS          float64          `json:"start_s"` // since the target's first step
	DurationS       float64          `json:"duration_s"`
	Sessions        int64            `json:"sessions"`
	SessionErrors   int64            `json:"session_errors"`
	SessionsCut     int64            `json:"sessions_cut"`
	SessionsDropped int64            `json:"sessions_dropped,omitempty"`
	Requests        int64            `json:"requests"`
	Errors          int64            `json:"errors"`
	SessionsPerSec  float64          `json:"sessions_per_s"`
	RequestsPerSec  float64          `json:"requests_per_s"`
	Latency         LatencySummary   `json:"latency"`
	Endpoints       []EndpointResult `json:"endpoints"`
	ErrorsByKind    map[string]int64 `json:"errors_by_kind"`
	// ErrorExamples holds a few messages per error kind, for diagnosis.
	ErrorExamples map[string][]string `json:"error_examples,omitempty"`
	// LegacyQuirks counts, per documented legacy quirk (docs/legacy.md §4),
	// the answers of a target declared legacy that showed it. They are
	// information, not errors; a native target's such answers are errors.
	LegacyQuirks map[string]int64 `json:"legacy_quirks,omitempty"`
	// LegacyQuirkEndpoints names the first endpoint that showed each quirk.
	LegacyQuirkEndpoints map[string]string `json:"legacy_quirk_endpoints,omitempty"`
	Timeline             []TimePoint       `json:"timeline"`
}

// LatencySummary holds counts and latency percentiles in milliseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// EndpointResult is the summary of one kind of request.
type EndpointResult struct {
	Name string `json:"name"`
	LatencySummary
}

// TimePoint is one second of a step.
type TimePoint struct {
	T              float64 `json:"t"` // seconds since the target's first step
	Requests       int64   `json:"requests"`
	RequestsPerSec float64 `json:"requests_per_s"`
	Errors         int64   `json:"errors"`
	P50MS          float64 `json:"p50_ms"`
	P95MS          float64 `json:"p95_ms"`
	P99MS          float64 `json:"p99_ms"`
}

// Endpoint returns the named endpoint's summary.
func (s *StepResult) Endpoint(name string) (EndpointResult, bool) {
	for _, e := range s.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return EndpointResult{}, false
}

// WriteFile writes r as indented JSON.
func (r *Results) WriteFile(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// ReadResults loads a results.json file.
func ReadResults(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding results %s: %w", path, err)
	}
	if r.Version != ResultsVersion {
		return nil, fmt.Errorf("results %s: version %d, this tool reads version %d", path, r.Version, ResultsVersion)
	}
	return &r, nil
}

// Target returns the named target's results.
func (r *Results) Target(name string) (*TargetResult, bool) {
	for i := range r.Targets {
		if r.Targets[i].Name == name {
			return &r.Targets[i], true
		}
	}
	return nil, false
}
