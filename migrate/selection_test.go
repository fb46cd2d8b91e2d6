package migrate

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

func TestBucket(t *testing.T) {
	for _, name := range []string{"alice", "7qrzrjz52vgwen6e7w2y7v6xknd46wxt", "Bob_99"} {
		sum := sha256.Sum256([]byte(strings.ToLower(name)))
		want := (int(sum[0])<<8 | int(sum[1])) % 100
		if got := syncstore.Bucket(name); got != want || syncstore.Bucket(strings.ToUpper(name)) != want {
			t.Errorf("Bucket(%q) = %d, want %d for every case", name, got, want)
		}
	}
	// Over many names the buckets spread evenly enough for canaries.
	var hist [100]int
	for i := range 10000 {
		hist[syncstore.Bucket("user"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i/26))]++
	}
	for b, n := range hist {
		if n < 40 || n > 180 {
			t.Errorf("bucket %d holds %d of 10,000 names", b, n)
		}
	}
}

func TestSelection(t *testing.T) {
	f := newFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS}, legacytest.Spec{Users: 6, Records: []int{3}, BcryptCost: 4})
	ctx := testContext(t)
	file := strings.NewReader("# canary users\nCAROL-jones\n\n  dave  # trailing comment\nalice.smith\n")
	sel := Selection{Users: []string{"Alice.Smith", "zed"}, File: file}
	got, err := sel.ResolveLegacy(ctx, f.legacy)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "alice.smith,carol-jones,dave,zed" {
		t.Errorf("named selection %v", got)
	}
	all, err := (&Selection{All: true}).ResolveLegacy(ctx, f.legacy)
	if err != nil || len(all) != 6 {
		t.Fatalf("--all: %v %v", all, err)
	}
	for _, pct := range []int{1, 30, 100} {
		canary, err := (&Selection{Canary: pct}).ResolveLegacy(ctx, f.legacy)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, u := range all {
			if syncstore.Bucket(u) < pct {
				want++
			}
		}
		if len(canary) != want {
			t.Errorf("--canary %d selected %v, want %d users", pct, canary, want)
		}
	}
	if _, err := (&Selection{Canary: 101}).ResolveLegacy(ctx, f.legacy); err == nil {
		t.Error("--canary 101 accepted")
	}
	if _, err := (&Selection{File: strings.NewReader("two names\n")}).ResolveLegacy(ctx, f.legacy); err == nil {
		t.Error("a line with two names accepted")
	}
}

// Named users follow the one account rule: an e-mail address is the
// hashed Sync username; a name that matches no legacy user is an error
// naming what was typed, before anything runs.
func TestSelectionAccounts(t *testing.T) {
	f := newFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS}, legacytest.Spec{Users: 2, Records: []int{1}, BcryptCost: 4})
	ctx := testContext(t)
	known := f.users[0].Name
	sel := Selection{Users: []string{"Nobody@Example.com", strings.ToUpper(known)}}
	got, err := sel.ResolveLegacy(ctx, f.legacy)
	if err != nil {
		t.Fatal(err)
	}
	nobody := syncstore.UsernameFromEmail("nobody@example.com")
	if strings.Join(got, ",") != strings.Join(dedupe([]string{nobody, strings.ToLower(known)}), ",") {
		t.Errorf("resolved %v", got)
	}
	err = sel.CheckLegacy(ctx, f.legacy)
	if !errors.Is(err, ErrUnknownUsers) || !strings.Contains(err.Error(), "no user Nobody@Example.com (Sync username "+nobody+"): not in the legacy database") ||
		strings.Contains(err.Error(), strings.ToUpper(known)) {
		t.Errorf("CheckLegacy: %v", err)
	}
	if err := (&Selection{Users: []string{"bob smith"}}).CheckLegacy(ctx, f.legacy); err != nil {
		t.Errorf("CheckLegacy before Resolve: %v", err)
	}
	if _, err := (&Selection{Users: []string{"bob smith"}}).ResolveLegacy(ctx, f.legacy); err == nil || !strings.Contains(err.Error(), `"bob smith"`) {
		t.Errorf("an invalid name: %v", err)
	}
	empty := Selection{Canary: 1}
	empty.Scanned = 7
	if err := empty.NothingSelected("legacy users"); err == nil || err.Error() != "canary 1% selected no users out of 7 legacy users" {
		t.Errorf("NothingSelected: %v", err)
	}
}
