package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func fakeTarget(name string, rps float64) TargetResult {
	step := func(label string, c int, rps, p95 float64) StepResult {
		return StepResult{
			Label: label, Concurrency: c, RequestsPerSec: rps, SessionsPerSec: rps / 2, Requests: int64(rps * 10),
			Latency:      LatencySummary{Count: int64(rps * 10), P50MS: p95 / 4, P95MS: p95, P99MS: p95 * 2},
			Endpoints:    []EndpointResult{{Name: epPost.String(), LatencySummary: LatencySummary{Count: 5, P50MS: 1, P95MS: p95}}},
			ErrorsByKind: map[string]int64{},
			Timeline:     []TimePoint{{T: 0, Requests: 10, RequestsPerSec: 10, P50MS: 1, P95MS: 2, P99MS: 3}},
		}
	}
	return TargetResult{
		Name: name, URL: "http://127.0.0.1:5000/",
		Steps:  []StepResult{step("c=1", 1, rps, 2), step("c=5", 5, rps*2, 4)},
		Growth: []StepResult{step("size=10000", 10, rps, 3)},
	}
}

func TestReportIsSelfContained(t *testing.T) {
	cfg := DefaultConfig()
	res := &Results{Version: ResultsVersion, Started: time.Now(), Finished: time.Now(), Settings: cfg.settings(),
		Targets: []TargetResult{fakeTarget("sqlite", 100), fakeTarget("mysql", 150)}}
	res.Targets[1].Steps[0].Errors = 2
	res.Targets[1].Steps[0].ErrorsByKind = map[string]int64{kindMissing: 2}
	res.Targets[1].Steps[0].ErrorExamples = map[string][]string{kindMissing: {"bookmarks/x <missing>"}}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := WriteReport(path, res, res.Comparisons()); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Opens offline: nothing is loaded from elsewhere.
	if m := regexp.MustCompile(`(?i)<(script|link|img|iframe)[^>]*(src|href)=`).Find(page); m != nil {
		t.Errorf("report loads an external resource: %s", m)
	}
	for _, want := range []string{"uPlot", `"requests_per_s"`, "mysql / sqlite", "1.50×", "missing-records", "bookmarks/x &lt;missing&gt;", "Permission is hereby granted"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte("<missing>")) {
		t.Error("error example not escaped")
	}
}

func TestCompareTwoRuns(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rps float64) string {
		res := &Results{Version: ResultsVersion, Targets: []TargetResult{fakeTarget("sqlite", rps)}}
		p := filepath.Join(dir, name, "results.json")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := res.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("before", 100), write("after", 125)
	res, cmps, err := compareFiles([]string{a, b}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cmps) != 1 || len(res.Targets) != 2 || res.Targets[0].Name != "before:sqlite" || res.Targets[1].Name != "after:sqlite" {
		t.Fatalf("comparisons %+v, targets %d", cmps, len(res.Targets))
	}
	rows := cmps[0].Rows
	if len(rows) != 3 || rows[0].Step != "c=1" || rows[2].Step != "size=10000" {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[1].RequestsPerSec; r.Base != 200 || r.Other != 250 || r.Ratio != 1.25 {
		t.Errorf("c=5 req/s ratio %+v", r)
	}
	var out bytes.Buffer
	if err := cmps[0].WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1.25×") || !strings.Contains(out.String(), epPost.String()) {
		t.Errorf("text table:\n%s", out.String())
	}
	if _, _, err := compareFiles([]string{a}, "", ""); err == nil {
		t.Error("one run with one target compared with nothing")
	}
}

// TestWriteSummaryFirst: with --write-summary, the POST and DELETE rows of
// those pairs come before every ratio table, on the terminal and in the
// report.
func TestWriteSummaryFirst(t *testing.T) {
	cfg := DefaultConfig()
	res := &Results{Version: ResultsVersion, Started: time.Now(), Finished: time.Now(), Settings: cfg.settings()}
	for i, name := range []string{"sqlite", "mysql", "legacy"} {
		tr := fakeTarget(name, 100)
		for _, steps := range [][]StepResult{tr.Steps, tr.Growth} {
			for j := range steps {
				steps[j].Endpoints = []EndpointResult{
					{Name: epInfoCollections.String(), LatencySummary: LatencySummary{Count: 9, P50MS: 1, P95MS: 2, P99MS: 3}},
					{Name: epPost.String(), LatencySummary: LatencySummary{Count: 5, P50MS: 5, P95MS: float64(10 * (i + 1)), P99MS: float64(20 * (i + 1))}},
					{Name: epDelete.String(), LatencySummary: LatencySummary{Count: 2, P50MS: 2, P95MS: float64(4 * (i + 1)), P99MS: float64(8 * (i + 1))}},
				}
			}
		}
		res.Targets = append(res.Targets, tr)
	}
	o := NewOptions()
	o.out = t.TempDir()
	o.pairs = []Pair{{Base: "sqlite", Other: "mysql"}, {Base: "legacy", Other: "sqlite"}, {Base: "legacy", Other: "mysql"}}
	o.writePairs = []Pair{{Base: "legacy", Other: "sqlite"}, {Base: "legacy", Other: "mysql"}}
	var out bytes.Buffer
	if err := o.write(res, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	summary, firstTable := strings.Index(text, "write path:"), strings.Index(text, "mysql / sqlite (ratios")
	if summary < 0 || firstTable < 0 || summary > firstTable {
		t.Fatalf("write summary at %d, first ratio table at %d:\n%s", summary, firstTable, text)
	}
	// 2 pairs × 2 endpoints × 3 steps (growth included), POST before DELETE
	// within a pair; no other endpoint.
	block := text[summary:firstTable]
	lines := strings.Split(strings.TrimSpace(block), "\n")[2:]
	if len(lines) != 12 {
		t.Fatalf("%d summary rows:\n%s", len(lines), block)
	}
	for i, l := range lines {
		pair, ep := "sqlite/legacy", epPost.String()
		if i >= 6 {
			pair = "mysql/legacy"
		}
		if i%6 >= 3 {
			ep = epDelete.String()
		}
		if !strings.Contains(l, pair) || !strings.Contains(l, ep) {
			t.Errorf("row %d %q: want %s %s", i, l, pair, ep)
		}
	}
	// sqlite/legacy POST p95: 10 against 30 ms.
	if !strings.Contains(lines[0], "0.33×") || strings.Contains(block, epInfoCollections.String()) {
		t.Errorf("summary:\n%s", block)
	}
	page, err := os.ReadFile(filepath.Join(o.out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	h2 := regexp.MustCompile(`<h2>([^<]*)</h2>`).FindAllSubmatch(page, 2)
	if len(h2) < 2 || string(h2[0][1]) != "Write path: POST and DELETE" || string(h2[1][1]) != "mysql / sqlite" {
		t.Errorf("report sections start %q", h2)
	}
}
