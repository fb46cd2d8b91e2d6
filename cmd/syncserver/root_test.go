package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runRoot runs the command tree in process, as main does.
func runRoot(args ...string) (stdout, stderr string, status int) {
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	status = execute(root, args, &errOut)
	return out.String(), errOut.String(), status
}

// Caddy's texts must not show through: every help page names this
// binary, only Caddy's own commands point at Caddy's docs, and none tells
// the operator to type caddy.
func TestHelpNamesSyncserver(t *testing.T) {
	root := newRootCommand()
	pages := [][]string{{"--help"}}
	for _, c := range root.Commands() {
		if c.Hidden {
			continue
		}
		pages = append(pages, []string{c.Name(), "--help"})
		for _, sub := range c.Commands() {
			pages = append(pages, []string{c.Name(), sub.Name(), "--help"})
		}
	}
	ours := map[string]bool{"dev": true, "users": true, "routes": true, "purge": true, "migrate": true, "bench": true}
	for _, args := range pages {
		out, errOut, status := runRoot(args...)
		if status != 0 {
			t.Errorf("%v: status %d: %s", args, status, errOut)
			continue
		}
		for _, bad := range []string{"$ caddy", "'caddy ", "\"caddy ", "`caddy "} {
			if strings.Contains(out, bad) {
				t.Errorf("%v: help says %q:\n%s", args, bad, out)
			}
		}
		if len(args) > 1 && ours[args[0]] && strings.Contains(out, "caddyserver.com") {
			t.Errorf("%v: syncserver's own command links Caddy's docs:\n%s", args, out)
		}
		if !strings.Contains(out, "syncserver") {
			t.Errorf("%v: help does not name syncserver:\n%s", args, out)
		}
	}
	out, _, _ := runRoot("--help")
	if !strings.Contains(out, "$ syncserver run --config Caddyfile") {
		t.Errorf("root examples:\n%s", out)
	}
	out, _, _ = runRoot("run", "--help")
	if !strings.Contains(out, "caddyserver.com/docs/command-line#caddy-run") {
		t.Errorf("run --help does not point at Caddy's docs of run:\n%s", out)
	}
}

// One error style: a plain "Error: …" line on stderr and status 1, for our
// commands and for cobra's own errors.
func TestErrorStyle(t *testing.T) {
	t.Setenv("SYNCSERVER_MYSQL_DSN", "")
	dir := filepath.Join(t.TempDir(), "none")
	for _, args := range [][]string{
		{"bogus"},
		{"users", "lsit"},
		{"users", "list", "--data", dir},
		{"routes", "status", "--data", dir},
		{"purge", "--data", dir},
		{"migrate", "--canary", "5", "--data", dir},
		{"upgrade"},
	} {
		out, errOut, status := runRoot(args...)
		if status != 1 || !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "Error: ") != 1 || strings.Contains(errOut, `"level"`) {
			t.Errorf("%v: status %d, stderr %q, stdout %q; want one plain Error line and status 1", args, status, errOut, out)
		}
	}
}

// The Caddyfile format warning names this binary's fmt command.
func TestFormatWarningNamesSyncserver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(":8080 {\nrespond \"hi\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{{"adapt", "--config", "Caddyfile"}, {"adapt"}, {"validate", "--config", "Caddyfile"}} {
		cmd, out := syncserver(ctx, dir, args...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out.String(), "run 'syncserver fmt --overwrite'") || strings.Contains(out.String(), "caddy fmt") {
			t.Errorf("%v: format warning:\n%s", args, out)
		}
	}
}

func TestManpage(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, status := runRoot("manpage", "--directory", dir); status != 0 {
		t.Fatalf("manpage: %d %s", status, errOut)
	}
	page, err := os.ReadFile(filepath.Join(dir, "syncserver-users.8"))
	if err != nil || !bytes.Contains(page, []byte("syncserver users")) {
		t.Errorf("syncserver-users.8: %v\n%s", err, page)
	}
}
