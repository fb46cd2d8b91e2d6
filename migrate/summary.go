package migrate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Percentile returns the p-th percentile (0–100) of ds by the
// nearest-rank method; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// Windows lists the unavailability windows of the users that reached
// the migrating state.
func (r *Report) Windows() []time.Duration {
	var out []time.Duration
	for _, res := range r.Results {
		if res.Window > 0 {
			out = append(out, res.Window)
		}
	}
	return out
}

// WriteSummary prints the final table: users per outcome, data moved,
// throughput, unavailability windows and the failures with their reasons.
func (r *Report) WriteSummary(w io.Writer) {
	counts := map[Action]int{}
	var records, bytes, written int64
	for _, res := range r.Results {
		counts[res.Action]++
		records += res.Records
		bytes += res.Bytes
		written += res.Written
	}
	elapsed := r.End.Sub(r.Start)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "outcome\tusers\n")
	for _, a := range []Action{ActionMigrated, ActionMoved, ActionRolledBack, ActionAlreadyNative, ActionAlreadyMoved, ActionAlreadyLegacy, ActionDryRun, ActionFailed} {
		if counts[a] > 0 {
			fmt.Fprintf(tw, "%s\t%d\n", a, counts[a])
		}
	}
	fmt.Fprintf(tw, "total\t%d\n", len(r.Results))
	tw.Flush()
	fmt.Fprintf(w, "\nrecords %d (%s), written %d, in %s", records, FormatBytes(bytes), written, elapsed.Round(time.Millisecond))
	if s := elapsed.Seconds(); s > 0 {
		fmt.Fprintf(w, " = %.0f records/s, %s/s", float64(records)/s, FormatBytes(int64(float64(bytes)/s)))
	}
	fmt.Fprintln(w)
	if by := r.byShard(); by != "" {
		fmt.Fprintf(w, "users moved in, per shard: %s\n", by)
	}
	if ws := r.Windows(); len(ws) > 0 {
		fmt.Fprintf(w, "unavailability window (503): p50 %s, p99 %s, max %s over %d users\n",
			Percentile(ws, 50).Round(time.Millisecond), Percentile(ws, 99).Round(time.Millisecond), Percentile(ws, 100).Round(time.Millisecond), len(ws))
	}
	var notes []string
	for _, res := range r.Results {
		for _, n := range res.Notes {
			notes = append(notes, res.User+": "+n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes[:min(len(notes), 20)] {
			fmt.Fprintln(w, "  "+n)
		}
	}
	if f := r.Failed(); f > 0 {
		fmt.Fprintf(w, "\nFAILED (%d users; their routes are back where they were, with the reason in `migrate status`):\n", f)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  user\tstep\terror\n")
		shown := 0
		for _, res := range r.Results {
			if res.Err == nil {
				continue
			}
			if shown++; shown > 50 {
				fmt.Fprintf(tw, "  …\t\t%d more\n", f-50)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", res.User, res.Step, strings.ReplaceAll(res.Err.Error(), "\n", " "))
		}
		tw.Flush()
	}
}

// FormatBytes renders n with a binary unit.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// byShard counts the users migrated or moved into each shard, "" when
// the run names no shards.
func (r *Report) byShard() string {
	counts := map[string]int{}
	for _, res := range r.Results {
		if res.To != "" && (res.Action == ActionMigrated || res.Action == ActionMoved) {
			counts[res.To]++
		}
	}
	names := map[string]bool{}
	for n := range counts {
		names[n] = true
	}
	var parts []string
	for _, n := range sortedKeys(names) {
		parts = append(parts, fmt.Sprintf("%s %d", n, counts[n]))
	}
	return strings.Join(parts, ", ")
}
