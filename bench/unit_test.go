package bench

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestWeightsPick(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := Weights{71, 15, 0, 7, 4, 3}
	const n = 200_000
	var got [6]int
	for range n {
		got[w.Pick(r)]++
	}
	total := 100.0
	for i, x := range w {
		want := float64(x) / total
		share := float64(got[i]) / n
		if math.Abs(share-want) > 0.005 {
			t.Errorf("index %d: share %.4f, want %.4f", i, share, want)
		}
	}
	if got[2] != 0 {
		t.Errorf("zero weight picked %d times", got[2])
	}
	if err := (Weights{0, 0}).validate("x"); err == nil {
		t.Error("all-zero weights accepted")
	}
	if err := (Weights{1, -1}).validate("x"); err == nil {
		t.Error("negative weight accepted")
	}
}

func TestPlanFollowsTheMix(t *testing.T) {
	m := DefaultMix()
	r := rand.New(rand.NewPCG(3, 4))
	const n = 100_000
	var idle, meta, gets, posts, records, maxPosts int
	for range n {
		p := m.plan(r, 2)
		if p.idle {
			idle++
			if len(p.gets)+len(p.posts)+len(p.deletes) > 0 || p.metaGlobal {
				t.Fatal("idle session does more than info/collections")
			}
			continue
		}
		if p.metaGlobal {
			meta++
		}
		gets += len(p.gets)
		posts += len(p.posts)
		maxPosts = max(maxPosts, len(p.posts))
		for _, pp := range p.posts {
			records += pp.records
			if pp.records < 20 || pp.records > 100 {
				t.Fatalf("batch of %d records", pp.records)
			}
		}
		seen := map[string]bool{}
		for _, c := range p.gets {
			if seen[c] {
				t.Fatalf("collection %s drawn twice in one session: %v", c, p.gets)
			}
			seen[c] = true
		}
	}
	active := float64(n - idle)
	check := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %.3f, want %.3f", name, got, want)
		}
	}
	check("idle share", float64(idle)/n, 0.5, 0.01)
	check("meta/global share", float64(meta)/active, 0.6, 0.01)
	// Mean of the count distributions: Σ i·w_i / Σ w_i.
	check("GETs per active session", float64(gets)/active, (15+2*7+3*4+4*3)/100.0, 0.02)
	check("POSTs per active session", float64(posts)/active, (18+2*9+3*4+4*2)/100.0, 0.02)
	// min(U{20…180}, 100): 81/161 of batches are full.
	check("records per POST", float64(records)/float64(posts), 60*80.0/161+100*81.0/161, 1.5)
	if maxPosts != 4 {
		t.Errorf("at most %d POSTs per session", maxPosts)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var h Histogram
	vals := make([]time.Duration, 50_000)
	for i := range vals {
		// Log-normal around 2 ms with a long tail.
		vals[i] = time.Duration(math.Exp(r.NormFloat64()*1.2) * float64(2*time.Millisecond)).Truncate(time.Microsecond)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
			t.Errorf("q%.3f: %v, exact %v (%.2f%% off)", q, got, exact, rel*100)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(5 * time.Millisecond)
	a.Merge(&b)
	if p50 := a.Quantile(0.5); a.Count() != 3 || p50 < 2970*time.Microsecond || p50 > 3030*time.Microsecond || a.Mean() != 3*time.Millisecond {
		t.Errorf("merged: count %d p50 %v mean %v", a.Count(), a.Quantile(0.5), a.Mean())
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram")
	}
}

func TestSeedLayoutAndData(t *testing.T) {
	for _, n := range []int{0, 1, 7, 100, 6000} {
		total := 0
		for _, c := range seedLayout(n) {
			if c.count < 0 {
				t.Fatalf("%d: negative count %v", n, c)
			}
			total += c.count
		}
		if total != n {
			t.Errorf("layout of %d holds %d", n, total)
		}
	}
	d := &Account{id: newIdentity("t", roleMain, 0), layout: seedLayout(230), devices: 2}
	var ids []string
	n := 0
	err := d.eachBatch(100, func(c string, recs []Record) error {
		for _, r := range recs {
			if len(r.ID) != 12 || len(r.Payload) < 300 || !json.Valid(r.Payload) {
				t.Fatalf("record %q with a %d-byte payload", r.ID, len(r.Payload))
			}
			ids = append(ids, c+"/"+r.ID)
		}
		n += len(recs)
		return nil
	})
	if err != nil || n != 230 {
		t.Fatalf("%d records, %v", n, err)
	}
	// Deterministic: a second pass yields the same ids.
	var again []string
	d.eachBatch(37, func(c string, recs []Record) error {
		for _, r := range recs {
			again = append(again, c+"/"+r.ID)
		}
		return nil
	})
	if !slices.Equal(ids, again) {
		t.Error("seeded ids differ between passes")
	}
	slices.Sort(again)
	if len(slices.Compact(again)) != 230 {
		t.Error("duplicate seeded ids")
	}
}

func TestUsernameAndTargets(t *testing.T) {
	// docs/protocol.md §2.3's example.
	if got := usernameFromEmail("Alice@Example.com"); got != "7qrzrjz52vgwen6e7w2y7v6xknd46wxt" {
		t.Errorf("username %q", got)
	}
	tg, err := ParseTarget("sqlite=http://127.0.0.1:5000")
	if err != nil || tg.Name != "sqlite" || tg.URL.String() != "http://127.0.0.1:5000/" {
		t.Errorf("%+v %v", tg, err)
	}
	for _, bad := range []string{"http://127.0.0.1:5000/", "x=", "=http://a/", "Bad=http://127.0.0.1/", "x=ftp://127.0.0.1/", "x=http://u:p@127.0.0.1/"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestPayloadsAndBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var sizes []int
	for range 20_000 {
		sizes = append(sizes, payloadSize(r))
	}
	slices.Sort(sizes)
	mean := 0.0
	for _, s := range sizes {
		mean += float64(s)
	}
	mean /= float64(len(sizes))
	if sizes[0] < 300 || math.Abs(mean-450) > 25 || sizes[len(sizes)-1] < 2000 {
		t.Errorf("sizes: min %d mean %.0f max %d", sizes[0], mean, sizes[len(sizes)-1])
	}
	var b batchBuilder
	b.reset()
	b.add(r, "a", 500)
	b.add(r, "b", maxBatchPayload) // clamped to what the batch has left
	var recs []struct {
		ID      string `json:"id"`
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(b.finish(), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || len(recs[0].Payload) != 500 || len(recs[0].Payload)+len(recs[1].Payload) != maxBatchPayload {
		t.Fatalf("batch: %d records", len(recs))
	}
	if checksum(recs[0].Payload) != b.records[0].sum {
		t.Error("checksum of the decoded payload differs from the one remembered")
	}
}
