package bench

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"os"
	"slices"
	"time"
)

// The charting library, vendored from the npm registry (see
// assets/VENDOR.txt) and inlined so the report opens offline.
var (
	//go:embed assets/uPlot.iife.min.js
	uplotJS string
	//go:embed assets/uPlot.min.css
	uplotCSS string
	//go:embed assets/uPlot.LICENSE
	uplotLicense string
	//go:embed assets/report.html.tmpl
	reportTemplate string
)

var reportFuncs = template.FuncMap{
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f2":    func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"mib":   func(b int64) string { return fmt.Sprintf("%.1f", mib(b)) },
	"ratio": fmtRatio,
	"dur":   func(d time.Duration) string { return d.String() },
	"kinds": func(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) },
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	// ratioClass colours a ratio cell when the difference passes 5 %.
	"ratioClass": func(r Ratio, higherIsBetter bool) string {
		if r.Base == 0 {
			return ""
		}
		better, worse := r.Ratio > 1.05, r.Ratio < 0.95
		if !higherIsBetter {
			better, worse = worse, better
		}
		switch {
		case better:
			return "better"
		case worse:
			return "worse"
		}
		return ""
	},
}

var reportTmpl = template.Must(template.New("report").Funcs(reportFuncs).Parse(reportTemplate))

type reportPage struct {
	*Results
	Comparisons []Comparison
	Writes      []WriteRow
	UplotCSS    template.CSS
	UplotJS     template.JS
	Data        template.JS
	License     string
}

// WriteReport renders res, and the comparisons given, as one
// self-contained HTML file: tables readable without JavaScript, plots
// drawn by the embedded uPlot. Write rows, when given, come first.
func WriteReport(path string, res *Results, comparisons []Comparison, writes ...WriteRow) error {
	data, err := json.Marshal(struct {
		Results     *Results     `json:"results"`
		Comparisons []Comparison `json:"comparisons"`
	}{res, comparisons})
	if err != nil {
		return fmt.Errorf("encoding report data: %w", err)
	}
	page := reportPage{
		Results:     res,
		Comparisons: comparisons,
		Writes:      writes,
		UplotCSS:    template.CSS(uplotCSS),
		UplotJS:     template.JS(uplotJS),
		// json.Marshal escapes <, > and &, so the data cannot close the
		// script element it is written into.
		Data:    template.JS(data),
		License: uplotLicense,
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, page); err != nil {
		return fmt.Errorf("rendering report: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
