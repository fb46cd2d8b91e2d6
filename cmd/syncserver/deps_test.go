package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoTestCode keeps test code out of the production binary: the
// testing package, httptest, and the legacy stand-in of migrate/legacytest
// (which make bench links through cmd/syncserver-benchlocal instead).
func TestLinksNoTestCode(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed only %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		switch {
		case p == "testing", strings.HasPrefix(p, "testing/"), p == "net/http/httptest",
			strings.HasSuffix(p, "/legacytest"), strings.Contains(p, "/legacytest/"):
			t.Errorf("cmd/syncserver links %s", p)
		}
	}
}
