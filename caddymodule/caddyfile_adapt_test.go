package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// adaptSeparator splits a testdata/caddyfile_adapt case into its Caddyfile
// and what it must adapt to, as in Caddy's own caddyfile_adapt tests.
const adaptSeparator = "----------"

// TestCaddyfileAdapt adapts each testdata/caddyfile_adapt/*.caddyfiletest,
// one per firefox_sync feature: a Caddyfile, a line of ten dashes, then
// the JSON it must adapt to, or else a piece of the error it must fail
// with. go test -run TestCaddyfileAdapt -update rewrites the JSON of the
// cases that adapt; read the diff before committing it.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/caddyfile_adapt/*.caddyfiletest")
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, ok := strings.Cut(string(data), adaptSeparator)
			if !ok {
				t.Fatalf("%s: no %q line between the Caddyfile and the expected result", file, adaptSeparator)
			}
			caddyfile := strings.TrimSpace(input) + "\n"
			expected = strings.TrimSpace(expected)

			if !strings.HasPrefix(expected, "{") {
				_, _, err := adapter.Adapt([]byte(caddyfile), nil)
				if err == nil {
					t.Fatalf("adapted without error; want an error containing %q", expected)
				}
				if !strings.Contains(err.Error(), expected) {
					t.Errorf("error %q does not contain %q", err, expected)
				}
				return
			}

			if *update {
				out, _, err := adapter.Adapt([]byte(caddyfile), nil)
				if err != nil {
					t.Fatalf("adapting: %v", err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				expected = pretty.String()
				if err := os.WriteFile(file, []byte(caddyfile+adaptSeparator+"\n"+expected+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !caddytest.CompareAdapt(t, file, caddyfile, "caddyfile", expected) {
				t.Errorf("%s does not adapt to the JSON in the file (diff above; -update rewrites it)", file)
			}
		})
	}
}
