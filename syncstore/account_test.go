package syncstore

import (
	"strings"
	"testing"
)

func TestParseAccount(t *testing.T) {
	const alice = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	for _, tc := range []struct {
		typed, name, email, err string
	}{
		{typed: "alice@example.com", name: alice, email: "alice@example.com"},
		{typed: " Alice@Example.COM ", name: alice, email: "Alice@Example.COM"},
		{typed: alice, name: alice},
		{typed: strings.ToUpper(alice), name: alice},
		{typed: "Bob", name: "bob"},
		{typed: "bob smith", err: "neither an e-mail address nor a Sync username"},
		{typed: "", err: "neither"},
		{typed: strings.Repeat("a", 33), err: "neither"},
		{typed: "@example.com", err: "not an e-mail address"},
		{typed: "alice@", err: "not an e-mail address"},
	} {
		a, err := ParseAccount(tc.typed)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "\""+tc.typed+"\"") {
				t.Errorf("ParseAccount(%q) error = %v, want one naming the input and containing %q", tc.typed, err, tc.err)
			}
			continue
		}
		if err != nil || a.Name != tc.name || a.Email != tc.email || a.Typed != tc.typed {
			t.Errorf("ParseAccount(%q) = %+v, %v; want name %q email %q", tc.typed, a, err, tc.name, tc.email)
		}
	}
}

// The e-mail rule and the protocol's derivation must be one function: a
// name the operator types reaches the same row a client's requests do.
func TestUsernameFromEmail(t *testing.T) {
	if got := UsernameFromEmail("alice@example.com"); got != "7qrzrjz52vgwen6e7w2y7v6xknd46wxt" {
		t.Errorf("UsernameFromEmail = %q", got)
	}
	if UsernameFromEmail("a@bücher.example") != UsernameFromEmail("a@xn--bcher-kva.example") {
		t.Error("IDNA domains must hash like their ASCII form")
	}
}
