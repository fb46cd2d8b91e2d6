package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Ratio is a measure of two runs and other/base.
type Ratio struct {
	Base  float64 `json:"base"`
	Other float64 `json:"other"`
	Ratio float64 `json:"ratio"` // 0 when base is 0
}

func ratio(base, other float64) Ratio {
	r := Ratio{Base: base, Other: other}
	if base != 0 {
		r.Ratio = other / base
	}
	return r
}

// Comparison sets two targets (of one run or of two runs) side by side,
// step by step, as other/base ratios: above 1 for throughput and below 1
// for latency mean "other is faster".
type Comparison struct {
	Base  string          `json:"base"`
	Other string          `json:"other"`
	Rows  []ComparisonRow `json:"rows"`
}

// ComparisonRow compares one step present in both.
type ComparisonRow struct {
	Step           string          `json:"step"`
	RequestsPerSec Ratio           `json:"requests_per_s"`
	SessionsPerSec Ratio           `json:"sessions_per_s"`
	P50            Ratio           `json:"p50_ms"`
	P95            Ratio           `json:"p95_ms"`
	P99            Ratio           `json:"p99_ms"`
	BaseErrors     int64           `json:"base_errors"`
	OtherErrors    int64           `json:"other_errors"`
	Endpoints      []EndpointRatio `json:"endpoints"`
}

// EndpointRatio compares one endpoint's latency in a step.
type EndpointRatio struct {
	Name string `json:"name"`
	P50  Ratio  `json:"p50_ms"`
	P95  Ratio  `json:"p95_ms"`
	P99  Ratio  `json:"p99_ms"`
}

// Compare builds the ratio table of other against base over the steps
// (and growth sizes) both have, matched by label.
func Compare(base, other *TargetResult, baseName, otherName string) Comparison {
	c := Comparison{Base: baseName, Other: otherName}
	add := func(bs, os []StepResult) {
		for i := range bs {
			b := &bs[i]
			for j := range os {
				if o := &os[j]; o.Label == b.Label {
					c.Rows = append(c.Rows, compareStep(b, o))
				}
			}
		}
	}
	add(base.Steps, other.Steps)
	add(base.Growth, other.Growth)
	return c
}

func compareStep(b, o *StepResult) ComparisonRow {
	row := ComparisonRow{
		Step:           b.Label,
		RequestsPerSec: ratio(b.RequestsPerSec, o.RequestsPerSec),
		SessionsPerSec: ratio(b.SessionsPerSec, o.SessionsPerSec),
		P50:            ratio(b.Latency.P50MS, o.Latency.P50MS),
		P95:            ratio(b.Latency.P95MS, o.Latency.P95MS),
		P99:            ratio(b.Latency.P99MS, o.Latency.P99MS),
		BaseErrors:     b.Errors,
		OtherErrors:    o.Errors,
	}
	for _, be := range b.Endpoints {
		if oe, ok := o.Endpoint(be.Name); ok {
			row.Endpoints = append(row.Endpoints, EndpointRatio{Name: be.Name, P50: ratio(be.P50MS, oe.P50MS), P95: ratio(be.P95MS, oe.P95MS), P99: ratio(be.P99MS, oe.P99MS)})
		}
	}
	return row
}

// Comparisons compares every target of a run with its first one.
func (r *Results) Comparisons() []Comparison {
	var out []Comparison
	for i := 1; i < len(r.Targets); i++ {
		out = append(out, Compare(&r.Targets[0], &r.Targets[i], r.Targets[0].Name, r.Targets[i].Name))
	}
	return out
}

// Pair names two targets of a run to compare: Other against Base.
type Pair struct {
	Base, Other string
}

// ParsePair reads "other/base", the way the ratio is written
// (mysql/sqlite: mysql's numbers over sqlite's).
func ParsePair(s string) (Pair, error) {
	other, base, ok := strings.Cut(s, "/")
	if !ok || !validName(other) || !validName(base) || other == base {
		return Pair{}, fmt.Errorf("want other/base, two target names, e.g. mysql/sqlite")
	}
	return Pair{Base: base, Other: other}, nil
}

// ComparePairs compares the named pairs of targets; pairs naming a
// target the run lacks (one that failed before it ran) are left out.
func (r *Results) ComparePairs(pairs []Pair) []Comparison {
	var out []Comparison
	for _, p := range pairs {
		b, okb := r.Target(p.Base)
		o, oko := r.Target(p.Other)
		if okb && oko {
			out = append(out, Compare(b, o, b.Name, o.Name))
		}
	}
	return out
}

func fmtRatio(r Ratio) string {
	if r.Base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r.Ratio)
}

// WriteText prints the comparison as aligned text tables.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s / %s (ratios other/base: throughput > 1 and latency < 1 mean %s is faster)\n", c.Other, c.Base, c.Other)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "step\t%s req/s\t%s req/s\treq/s\tsessions/s\tp50\tp95\tp99\terrors\t\n", c.Base, c.Other)
	for _, r := range c.Rows {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%d / %d\t\n", r.Step,
			r.RequestsPerSec.Base, r.RequestsPerSec.Other, fmtRatio(r.RequestsPerSec), fmtRatio(r.SessionsPerSec),
			fmtRatio(r.P50), fmtRatio(r.P95), fmtRatio(r.P99), r.BaseErrors, r.OtherErrors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(c.Rows) == 0 {
		return nil
	}
	// p95 per endpoint, one column per step.
	fmt.Fprintf(w, "\np95 ratio per endpoint (%s / %s)\n", c.Other, c.Base)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"endpoint"}
	for _, r := range c.Rows {
		header = append(header, r.Step)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, name := range endpointNames {
		line := []string{name}
		found := false
		for _, r := range c.Rows {
			cell := "–"
			for _, e := range r.Endpoints {
				if e.Name == name {
					cell, found = fmtRatio(e.P95), true
				}
			}
			line = append(line, cell)
		}
		if found {
			fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
		}
	}
	return tw.Flush()
}

// writeEndpoints are the rows of the write summary: the write path whose
// cost against the legacy server issue targets are set for.
var writeEndpoints = []endpoint{epPost, epDelete}

// WriteRow is one write endpoint of one step of a comparison.
type WriteRow struct {
	Pair     string        `json:"pair"` // other/base
	Step     string        `json:"step"`
	Endpoint EndpointRatio `json:"endpoint"`
}

// WriteRows picks the POST and DELETE rows of comparisons, comparison by
// comparison, step by step.
func WriteRows(cmps []Comparison) []WriteRow {
	var out []WriteRow
	for _, c := range cmps {
		for _, ep := range writeEndpoints {
			for _, r := range c.Rows {
				for _, e := range r.Endpoints {
					if e.Name == ep.String() {
						out = append(out, WriteRow{Pair: c.Other + "/" + c.Base, Step: r.Step, Endpoint: e})
					}
				}
			}
		}
	}
	return out
}

// WriteWriteRows prints the write rows as one aligned table.
func WriteWriteRows(w io.Writer, rows []WriteRow) error {
	fmt.Fprintln(w, "write path: POST and DELETE latency, other/base (below 1: other is faster)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pair\tstep\tendpoint\tbase p95 ms\tother p95 ms\tp95\tbase p99 ms\tother p99 ms\tp99\t")
	for _, r := range rows {
		e := r.Endpoint
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%s\t%.2f\t%.2f\t%s\t\n", r.Pair, r.Step, e.Name,
			e.P95.Base, e.P95.Other, fmtRatio(e.P95), e.P99.Base, e.P99.Other, fmtRatio(e.P99))
	}
	return tw.Flush()
}
