package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// legacyAnswers rewrites a native server's answers the way FSyncMS writes
// them (docs/legacy.md §1.4, §4): POST answers without "modified" and with
// "failed":[], info/collections without X-Weave-Records and with its
// timestamp's trailing zeros dropped.
func legacyAnswers(t *testing.T) func(endpoint, *capture) {
	return func(ep endpoint, c *capture) {
		switch ep {
		case epPost:
			var res struct {
				Success []string `json:"success"`
			}
			if err := json.Unmarshal(c.body.Bytes(), &res); err != nil {
				t.Errorf("native POST answer %q: %v", c.body.Bytes(), err)
				return
			}
			body, _ := json.Marshal(res.Success)
			c.body.Reset()
			c.body.WriteString(`{"success":` + string(body) + `,"failed":[]}`)
		case epInfoCollections:
			c.header.Del("X-Weave-Records")
			ts := c.header.Get("X-Weave-Timestamp")
			c.header.Set("X-Weave-Timestamp", strings.TrimSuffix(strings.TrimRight(ts, "0"), "."))
		}
	}
}

func TestLegacyQuirksAreInfoOnlyOnLegacyTargets(t *testing.T) {
	for _, legacy := range []bool{true, false} {
		name := "native"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			ts := startTestServer(t, legacyAnswers(t))
			ts.target.Legacy = legacy
			cfg := tinyConfig(ts)
			cfg.Targets = []Target{ts.target}
			cfg.Concurrency = []int{2}
			cfg.Stores = map[string]syncstore.Store{ts.target.Name: ts.store}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Targets[0].Legacy != legacy {
				t.Errorf("result says legacy=%v", res.Targets[0].Legacy)
			}
			s := &res.Targets[0].Steps[0]
			checkAccounting(t, s, cfg.MaxRequests)
			post, _ := s.Endpoint(epPost.String())
			info, _ := s.Endpoint(epInfoCollections.String())
			if info.Count == 0 {
				t.Fatalf("no info/collections in the run: %+v", s.Endpoints)
			}
			if legacy {
				if post.Count == 0 {
					t.Fatalf("no POST in the run: %+v", s.Endpoints)
				}
				if s.Errors != 0 {
					t.Errorf("%d errors on legacy quirks: %v %v", s.Errors, s.ErrorsByKind, s.ErrorExamples)
				}
				q := s.LegacyQuirks
				if q[quirkPostNoModified.String()] != post.Count || q[quirkEmptyArray.String()] != post.Count ||
					q[quirkNoRecordsHeader.String()] != info.Count {
					t.Errorf("quirks %v for %d POSTs and %d info/collections", q, post.Count, info.Count)
				}
				return
			}
			// Every session stops at its first wrong answer, info/collections.
			if len(s.LegacyQuirks) != 0 {
				t.Errorf("a native target's answers counted as legacy quirks: %v", s.LegacyQuirks)
			}
			if info.Errors != info.Count || s.Errors != info.Errors {
				t.Errorf("%d of %d info/collections answers are errors, %d in all: %v", info.Errors, info.Count, s.Errors, s.ErrorsByKind)
			}
			for kind := range s.ErrorsByKind {
				if kind != kindRecordsHeader && kind != kindTimestampFormat {
					t.Errorf("error kind %s: %v", kind, s.ErrorExamples[kind])
				}
			}
		})
	}
}

func TestQuirkChecks(t *testing.T) {
	post := func(legacy bool, body string) (*postResult, *failure) {
		r := &response{status: 200, legacy: legacy, body: []byte(body), header: map[string][]string{
			"X-Weave-Timestamp": {"1795773375.6"}, "Content-Type": {"application/json"},
		}}
		res, _, _, f := parsePost(r)
		return res, f
	}
	legacyPost := `{"success":["a"],"failed":[]}`
	if _, f := post(false, legacyPost); f == nil || f.kind != kindTimestampFormat {
		t.Errorf("native POST answer with a one-decimal timestamp: %v", f)
	}
	if res, f := post(true, legacyPost); f != nil || len(res.Success) != 1 || res.Failed == nil {
		t.Errorf("legacy POST answer: %v %+v", f, res)
	}
	// What no legacy server does stays wrong on a legacy target too.
	if _, f := post(true, `{"success":["a"],"failed":["a"]}`); f == nil || f.kind != kindBadShape {
		t.Errorf("failed as a non-empty array: %v", f)
	}
	for s, want := range map[string]bool{"1795773375.60": true, "0.00": true, "1795773375.6": false, "1795773375": false, "17957733.756": false, "1.2e9": false, "-1.00": false} {
		if twoDecimals(s) != want {
			t.Errorf("twoDecimals(%q) = %v", s, !want)
		}
	}
	r := &response{legacy: true}
	if checkIncreasing(r, "POST", 100, 100) != nil || checkIncreasing(r, "POST", 99, 100) == nil {
		t.Error("legacy: a repeated timestamp is a quirk, one going back an error")
	}
	if checkIncreasing(&response{}, "POST", 100, 100) == nil {
		t.Error("native: a repeated write timestamp passed")
	}
}
