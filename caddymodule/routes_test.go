package caddymodule

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

func TestRoutesCommands(t *testing.T) {
	dir := t.TempDir()
	alice := syncUsername("alice@example.com")
	routes := func(args ...string) (string, error) {
		return runCommand(t, setupRoutesCommand, "", append(args, "--data", dir)...)
	}
	// An account made with `users add` gets a native row, so that a shim
	// with default_state legacy does not send it to the legacy server.
	if _, err := runCommand(t, setupUsersCommand, "correct horse battery\n", "add", "--create", "--password-stdin", "--bcrypt-cost", "4", "--data", dir, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	out, err := routes("get", "alice@example.com")
	if err != nil || !strings.Contains(out, "state:     native") || !strings.Contains(out, "log hash:  "+syncstore.UserHash(alice)) {
		t.Errorf("routes get alice: %q, %v", out, err)
	}
	// A name that matches nothing is an error naming what was typed.
	if _, err := routes("get", "bob"); err == nil || !strings.Contains(err.Error(), "no user bob: no native account and no route row") {
		t.Errorf("routes get of an unknown user: %v", err)
	}
	if _, err := routes("get", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user nobody@example.com") {
		t.Errorf("routes get of an unknown address: %v", err)
	}

	// Native needs a native account.
	if _, err := routes("set", "bob", "native"); err == nil || !strings.Contains(err.Error(), "no user bob") {
		t.Errorf("set bob native without an account or row: %v", err)
	}
	// An unknown user or node is refused unless forced.
	if _, err := routes("set", "bob", "legacy", "--node", "node2"); err == nil || !strings.Contains(err.Error(), "no user bob") {
		t.Errorf("set an unknown user: %v", err)
	}
	if _, err := routes("set", "alice@example.com", "legacy", "--node", "node9"); err == nil || !strings.Contains(err.Error(), `unknown node "node9"`) {
		t.Errorf("set an unknown node: %v", err)
	}
	out, err = routes("set", "--force", "bob", "legacy", "--node", "node2")
	if err != nil || out != "route of bob: no row -> legacy (node node2); running servers follow within their route_cache_ttl\n" {
		t.Errorf("set bob legacy: %q, %v", out, err)
	}
	// node2 is now known from bob's row; node1 from the example
	// Caddyfile's legacy block.
	if _, err := routes("set", "alice@example.com", "legacy", "--node", "node2"); err != nil {
		t.Errorf("set a node a route row names: %v", err)
	}
	if _, err := routes("set", "alice@example.com", "legacy", "--node", "node1"); err == nil || !strings.Contains(err.Error(), "known: node2") {
		t.Errorf("set node1 without --config: %v", err)
	}
	if _, err := routes("set", "alice@example.com", "legacy", "--node", "node1", "--config", "../Caddyfile"); err != nil {
		t.Errorf("set a node the Caddyfile configures: %v", err)
	}
	if _, err := routes("set", "alice@example.com", "native"); err != nil {
		t.Errorf("set alice back to native: %v", err)
	}
	if _, err := routes("set", "bob", "sideways"); err == nil || !strings.Contains(err.Error(), "must be legacy, migrating or native") {
		t.Errorf("set an unknown state: %v", err)
	}

	// A migrate run's lease is respected unless forced.
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	err = s.SetRoute(context.Background(), syncstore.Route{Username: "carol", State: syncstore.RouteMigrating, Owner: "run-1",
		LeaseExpires: time.Now().Add(time.Minute), Origin: syncstore.RouteLegacy, LastError: "earlier failure"})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := routes("set", "carol", "legacy"); err == nil || !strings.Contains(err.Error(), `migrate run "run-1" holds carol`) {
		t.Errorf("set over a lease: %v", err)
	}
	out, err = routes("list")
	if err != nil || !strings.Contains(out, "carol") || !strings.Contains(out, "run-1 until") || !strings.Contains(out, "node2") {
		t.Errorf("routes list: %q, %v", out, err)
	}
	if out, err = routes("list", "--state", "migrating"); err != nil || strings.Contains(out, "bob") || !strings.Contains(out, "carol") {
		t.Errorf("routes list --state migrating: %q, %v", out, err)
	}
	if _, err := routes("set", "--force", "carol", "legacy"); err != nil {
		t.Errorf("forced set: %v", err)
	}
	out, err = routes("status")
	if err != nil || !strings.Contains(out, "legacy     2") || !strings.Contains(out, "native     1") || !strings.Contains(out, "earlier failure") {
		t.Errorf("routes status: %q, %v", out, err)
	}
	if _, err := routes("set", "carol"); err == nil {
		t.Error("set without a state accepted")
	}
}
