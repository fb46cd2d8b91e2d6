package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// runInterleaved runs load step proto (the index-th step) for dur on
// every target of runs and appends each target's result to its steps.
//
// Targets measured one after the other see different machines: on a
// shared box the load of everything else moves between their runs, and a
// ratio between two targets then measures the machine as much as the
// servers. So the step is cut into slices of at most slice (0 or more
// than dur: one piece) that go round the targets, and each target's
// slices add up to one result, one histogram and one timeline: every
// target samples the same stretch of time. Only one target is loaded at
// a time, so they never compete with each other. Each slice ends with the
// step's own bound (its sessions are cut, as at the end of a step), and
// each slice draws new sessions from the step's generator.
func runInterleaved(ctx context.Context, runs []*targetRun, proto StepResult, index int, dur, slice time.Duration) {
	if slice <= 0 || slice > dur {
		slice = dur
	}
	slices := int((dur + slice - 1) / slice)
	type state struct {
		rec     *recorder
		step    StepResult
		elapsed time.Duration
		left    time.Duration
	}
	states := make([]state, len(runs))
	for i, run := range runs {
		now := time.Now()
		// The step's timeline starts where the target's last one ended.
		states[i] = state{rec: newRecorder(now.Add(-run.active), now), step: proto, left: dur}
		states[i].step.NodeRecords = run.records()
	}
	for n := 0; n < slices && ctx.Err() == nil; n++ {
		for i, run := range runs {
			st := &states[i]
			if st.left <= 0 || ctx.Err() != nil {
				continue
			}
			d := min(slice, st.left)
			label := proto.Label
			if slices > 1 {
				label += " slice " + strconv.Itoa(n+1) + "/" + strconv.Itoa(slices)
			}
			st.elapsed += run.slice(ctx, run.pop, st.rec, &st.step, label, phaseSteps, index, n, d)
			st.left -= d
		}
	}
	for i, run := range runs {
		st := &states[i]
		st.rec.result(&st.step, st.elapsed)
		run.active += st.elapsed
		run.result.Steps = append(run.result.Steps, st.step)
		if slices > 1 {
			run.progress.println(fmt.Sprintf("%s %s: %d slices, %.1fs, %d requests (%.1f req/s), %d errors",
				run.target.Name, proto.Label, slices, st.elapsed.Seconds(), st.step.Requests, st.step.RequestsPerSec, st.step.Errors))
		}
	}
}
