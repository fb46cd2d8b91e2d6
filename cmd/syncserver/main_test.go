package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// The tests run the real binary: this test binary re-executes itself with
// SYNCSERVER_TEST_MAIN=1, and TestMain then behaves as main() with the
// given arguments.
func TestMain(m *testing.M) {
	if os.Getenv("SYNCSERVER_TEST_MAIN") == "1" {
		os.Args = append([]string{"syncserver"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// syncserver prepares the binary with args in dir; ctx kills it.
func syncserver(ctx context.Context, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYNCSERVER_TEST_MAIN=1", "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	return cmd, &out
}

func TestWithDefaultCommand(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"syncserver"}, []string{"syncserver", "dev"}},
		{[]string{"syncserver", "run"}, []string{"syncserver", "run"}},
		{[]string{"syncserver", "--help"}, []string{"syncserver", "--help"}},
	} {
		if got := withDefaultCommand(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("withDefaultCommand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDevServes runs `syncserver dev` on a free port in an empty
// directory: it must create ./data, serve the protocol and stop cleanly on
// SIGINT.
func TestDevServes(t *testing.T) {
	dir := t.TempDir()
	// Held for the test: the server binds it later, and nothing else may
	// take it in between.
	addr := testservices.ReservePort(t).Addr()

	cmd, out := syncserver(context.Background(), dir, "dev", "--listen", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	base := "http://" + addr
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err = http.Get(base + "/__heartbeat__")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev server did not come up: %v\n%s", err, out)
		}
		select {
		case err := <-exited:
			t.Fatalf("dev server exited: %v\n%s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("heartbeat: %d", resp.StatusCode)
	}

	// Open registration, and node/weave answers the listen address.
	user := "7qrzrjz52vgwen6e7w2y7v6xknd46wxt" // alice@example.com
	req, _ := http.NewRequest("PUT", base+"/user/1.0/"+user, strings.NewReader(`{"email":"alice@example.com","password":"correct horse battery"}`))
	if body := doBody(t, req); body != user {
		t.Fatalf("registration answered %q", body)
	}
	req, _ = http.NewRequest("GET", base+"/user/1.0/"+user+"/node/weave", nil)
	if body := doBody(t, req); body != base+"/" {
		t.Errorf("node/weave = %q, want %q", body, base+"/")
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("dev did not create ./data: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("dev server did not stop on SIGINT\n%s", out)
	}
}

func doBody(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestCommands: the operator commands are wired into the binary, with
// help that names the binary, and they work on the dev data directory.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(stdin string, args ...string) (string, error) {
		cmd, out := syncserver(ctx, dir, args...)
		cmd.Stdin = strings.NewReader(stdin)
		err := cmd.Run()
		return out.String(), err
	}

	out, err := run("", "help")
	if err != nil || !strings.Contains(out, "syncserver run --config Caddyfile") || !strings.Contains(out, "users") || !strings.Contains(out, "purge") {
		t.Errorf("syncserver help (%v):\n%s", err, out)
	}
	out, err = run("", "users", "add", "--help")
	if err != nil || !strings.Contains(out, "syncserver users add alice@example.com") {
		t.Errorf("syncserver users add --help (%v):\n%s", err, out)
	}
	out, err = run("correct horse battery\n", "users", "add", "--create", "--password-stdin", "--bcrypt-cost", "4", "alice@example.com")
	if err != nil || !strings.Contains(out, "created user 7qrzrjz52vgwen6e7w2y7v6xknd46wxt") {
		t.Fatalf("syncserver users add (%v):\n%s", err, out)
	}
	out, err = run("", "users", "list")
	if err != nil || !strings.Contains(out, "7qrzrjz52vgwen6e7w2y7v6xknd46wxt  alice@example.com") {
		t.Errorf("syncserver users list (%v):\n%s", err, out)
	}
	out, err = run("", "users", "delete", "alice@example.com")
	if err == nil || !strings.Contains(out, "--yes") {
		t.Errorf("syncserver users delete without --yes and without a terminal must fail naming --yes (%v):\n%s", err, out)
	}
	out, err = run("", "purge")
	if err != nil || !strings.Contains(out, "deleted 0 expired records") {
		t.Errorf("syncserver purge (%v):\n%s", err, out)
	}
	out, err = run("", "users", "list", "--db", "oracle")
	if err == nil || !strings.Contains(out, `--db "oracle": want sqlite or mysql`) {
		t.Errorf("bad --db must fail clearly (%v):\n%s", err, out)
	}
}
