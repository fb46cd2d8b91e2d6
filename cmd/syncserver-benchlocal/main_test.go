package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestFlags: the command takes syncserver bench's flags plus its own, and
// a wrong --local kind is refused by name before anything starts.
func TestFlags(t *testing.T) {
	for _, name := range []string{"local", "mysql-dsn", "keep", "compare", "write-summary", "sample", "direct", "db", "data", "dsn", "create", "users", "concurrency"} {
		if command().Flags().Lookup(name) == nil {
			t.Errorf("no --%s", name)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--local", "sqlite,nope"}, `unknown local server kind "nope"`},
		{[]string{"--local", "sqlite,sqlite"}, "--local sqlite given twice"},
	} {
		cmd := command()
		cmd.SetArgs(append(tc.args, "--quiet", "--out", t.TempDir()))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
