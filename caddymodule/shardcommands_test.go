package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// shardConfig writes a Caddyfile with a firefox_sync handler on SQLite
// with shards s1 and s2 (weight 3), all created, and returns its path and
// the directories (own database first).
func shardConfig(t *testing.T) (string, []string) {
	t.Helper()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		openSQLite(t, d, nil).Close()
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	caddyfile := fmt.Sprintf(`http://127.0.0.1:1 {
	firefox_sync {
		database sqlite %s
		shard s1 {
			database sqlite %s
		}
		shard s2 {
			database sqlite %s
			weight 3
		}
	}
}
`, dirs[0], dirs[1], dirs[2])
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dirs
}

// TestShardUsersCommands: with --config, `users add` places accounts as
// registration does and writes their row; passwd, show and delete act on
// the user's shard; without --config, or with a row naming a shard the
// config lacks, the command fails naming the user and the shard.
func TestShardUsersCommands(t *testing.T) {
	cfg, dirs := shardConfig(t)
	users := func(stdin string, args ...string) (string, error) {
		return runCommand(t, setupUsersCommand, stdin, append(args, "--config", cfg)...)
	}
	ctx := context.Background()
	weights := []syncstore.ShardWeight{{Name: "s1", Weight: 1}, {Name: "s2", Weight: 3}}
	var onShard string // a user placed on s1 or s2
	placed := map[string]int{}
	for i := range 12 {
		name := fmt.Sprintf("cmduser%02d", i)
		out, err := users("correct horse battery\n", "add", "--password-stdin", "--bcrypt-cost", "4", name)
		if err != nil {
			t.Fatalf("users add %s: %v", name, err)
		}
		want, _ := syncstore.PickShard(name, weights)
		if !strings.Contains(out, "on shard "+want) {
			t.Fatalf("users add %s: %q, want it placed on %s", name, out, want)
		}
		placed[want]++
		onShard = name
		dir := dirs[1]
		if want == "s2" {
			dir = dirs[2]
		}
		if _, err := openSQLite(t, dir, nil).LookupUser(ctx, name); err != nil {
			t.Fatalf("%s not on %s: %v", name, want, err)
		}
		r, err := openSQLite(t, dirs[0], nil).(routeTable).GetRoute(ctx, name)
		if err != nil || r.State != syncstore.RouteNative || r.Shard != want {
			t.Fatalf("row of %s: %+v, %v; want native on %s", name, r, err, want)
		}
	}
	if placed["s1"] == 0 || placed["s2"] == 0 {
		t.Errorf("placements %v: want both shards used", placed)
	}
	shard := "s1"
	dir := dirs[1]
	if r, _ := openSQLite(t, dirs[0], nil).(routeTable).GetRoute(ctx, onShard); r.Shard == "s2" {
		shard, dir = "s2", dirs[2]
	}

	if _, err := users("new password here\n", "passwd", "--password-stdin", "--bcrypt-cost", "4", onShard); err != nil {
		t.Fatalf("passwd on a shard: %v", err)
	}
	checkPasswordStored(t, dir, onShard, "new password here")
	out, err := users("", "show", onShard)
	if err != nil || !strings.Contains(out, "shard:     "+shard) || !strings.Contains(out, "route:     native (shard "+shard+")") {
		t.Errorf("users show: %q, %v", out, err)
	}
	out, err = users("", "list", "--shard", shard)
	if err != nil || !strings.Contains(out, onShard) {
		t.Errorf("users list --shard %s: %q, %v", shard, out, err)
	}

	// Without the config the shard cannot be reached.
	_, err = runCommand(t, setupUsersCommand, "x\n", "passwd", "--password-stdin", "--data", dirs[0], onShard)
	if err == nil || !strings.Contains(err.Error(), "user "+onShard+" is on shard "+shard) || !strings.Contains(err.Error(), "--config") {
		t.Errorf("passwd of a shard user without --config: %v", err)
	}
	// A row naming a shard the config lacks.
	if err := openSQLite(t, dirs[0], nil).(routeTable).SetRoute(ctx, syncstore.Route{Username: "lost", State: syncstore.RouteNative, Shard: "s9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := users("", "show", "lost"); err == nil || !strings.Contains(err.Error(), "user lost is on shard s9: shard s9 is not configured in "+cfg) {
		t.Errorf("show of a user on an unknown shard: %v", err)
	}

	out, err = users("", "delete", "--yes", onShard)
	if err != nil || !strings.Contains(out, "on shard "+shard) {
		t.Fatalf("users delete: %q, %v", out, err)
	}
	if _, err := openSQLite(t, dir, nil).LookupUser(ctx, onShard); err == nil {
		t.Errorf("%s still on %s after delete", onShard, shard)
	}
}

// TestShardRoutesCommands: routes list and get show the shard; set keeps
// the row's shard and refuses --shard without --force, pointing at the
// migrate tool.
func TestShardRoutesCommands(t *testing.T) {
	cfg, dirs := shardConfig(t)
	routes := func(args ...string) (string, error) {
		return runCommand(t, setupRoutesCommand, "", append(args, "--config", cfg)...)
	}
	if _, err := runCommand(t, setupUsersCommand, "correct horse battery\n", "add", "--config", cfg, "--password-stdin", "--bcrypt-cost", "4", "zed"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	table := openSQLite(t, dirs[0], nil).(routeTable)
	r, err := table.GetRoute(ctx, "zed")
	if err != nil || r.Shard == "" {
		t.Fatalf("row of zed: %+v, %v", r, err)
	}
	shard, other := r.Shard, "s1"
	if shard == "s1" {
		other = "s2"
	}
	out, err := routes("list")
	if err != nil || !strings.Contains(out, "SHARD") || !strings.Contains(out, " "+shard+" ") {
		t.Errorf("routes list: %q, %v", out, err)
	}
	out, err = routes("list", "--shard", other)
	if err != nil || strings.Contains(out, "zed") {
		t.Errorf("routes list --shard %s: %q, %v", other, out, err)
	}
	out, err = routes("status")
	if err != nil || !strings.Contains(out, "native rows per shard") || !strings.Contains(out, shard+"  ") {
		t.Errorf("routes status: %q, %v", out, err)
	}
	out, err = routes("get", "zed")
	if err != nil || !strings.Contains(out, "shard:     "+shard) {
		t.Errorf("routes get: %q, %v", out, err)
	}
	// Native needs the account on the row's shard: it is there.
	if _, err := routes("set", "zed", "native"); err != nil {
		t.Errorf("set zed native: %v", err)
	}
	_, err = routes("set", "zed", "native", "--shard", other)
	if err == nil || !strings.Contains(err.Error(), "syncserver migrate --from") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("set --shard without --force: %v", err)
	}
	if r, _ := table.GetRoute(ctx, "zed"); r.Shard != shard {
		t.Errorf("refused --shard changed the row: %+v", r)
	}
	out, err = routes("set", "zed", "legacy", "--node", "n1", "--force")
	if err != nil || !strings.Contains(out, "(shard "+shard+")") {
		t.Errorf("set legacy keeps the shard: %q, %v", out, err)
	}
	if _, err := routes("set", "zed", "native", "--shard", other, "--force"); err != nil {
		t.Errorf("set --shard --force: %v", err)
	}
	if r, _ := table.GetRoute(ctx, "zed"); r.Shard != other || r.Node != "n1" {
		t.Errorf("row after a forced shard change: %+v, want shard %s, node n1 kept", r, other)
	}
	if _, err := routes("set", "zed", "native", "--shard", "Bad!", "--force"); err == nil || !strings.Contains(err.Error(), `shard "Bad!"`) {
		t.Errorf("set --shard with a bad name: %v", err)
	}
}

// TestShardPurgeCommand: purge --config purges the own database and every
// shard.
func TestShardPurgeCommand(t *testing.T) {
	cfg, dirs := shardConfig(t)
	expiredRecords(t, dirs[1], 7)
	expiredRecords(t, dirs[2], 3)
	out, err := runCommand(t, setupPurgeCommand, "", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shard default: deleted 0 expired records", "shard s1: deleted 7 expired records", "shard s2: deleted 3 expired records"} {
		if !strings.Contains(out, want) {
			t.Errorf("purge output %q lacks %q", out, want)
		}
	}
}

// TestShardUsersDelete: `users delete --config` of a user on a native
// shard deletes the account and its data on the shard and keeps the route
// row in the directory (TestUsersDeleteKeepsRouteRow). A shard that cannot
// be opened fails the command naming the shard and leaves both, so the
// same command can be run again once the shard answers.
func TestShardUsersDelete(t *testing.T) {
	cfg, dirs := shardConfig(t)
	users := func(args ...string) (string, error) {
		return runCommand(t, setupUsersCommand, "correct horse battery\n", append(args, "--config", cfg)...)
	}
	ctx := context.Background()
	weights := []syncstore.ShardWeight{{Name: "s1", Weight: 1}, {Name: "s2", Weight: 3}}
	// Two users placed on s1, each with a record.
	var onS1 []string
	for i := 0; len(onS1) < 2; i++ {
		name := fmt.Sprintf("deluser%02d", i)
		if s, _ := syncstore.PickShard(name, weights); s != "s1" {
			continue
		}
		if _, err := users("add", "--password-stdin", "--bcrypt-cost", "4", name); err != nil {
			t.Fatalf("users add %s: %v", name, err)
		}
		shard := openSQLite(t, dirs[1], nil)
		u, err := shard.LookupUser(ctx, name)
		if err != nil {
			t.Fatalf("%s not on s1: %v", name, err)
		}
		payload := "x"
		if _, err := shard.PutRecords(ctx, u.ID, "bookmarks", []syncstore.WBO{{ID: "b1", Payload: &payload}}, syncstore.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		onS1 = append(onS1, name)
	}
	directory := openSQLite(t, dirs[0], nil).(routeTable)
	gone := func(name string) {
		t.Helper()
		if _, err := openSQLite(t, dirs[1], nil).LookupUser(ctx, name); !errors.Is(err, syncstore.ErrNotFound) {
			t.Errorf("account of %s on s1 after delete: %v, want ErrNotFound", name, err)
		}
		if r, err := directory.GetRoute(ctx, name); err != nil || r.State != syncstore.RouteNative || r.Shard != "s1" {
			t.Errorf("route row of %s after delete: %+v, %v; want it kept", name, r, err)
		}
	}

	out, err := users("delete", "--yes", onS1[0])
	if err != nil || !strings.Contains(out, "and its data on shard s1; its route row (native (shard s1)) is kept") {
		t.Fatalf("users delete: %q, %v", out, err)
	}
	gone(onS1[0])

	// s1 unreachable: an error naming it, nothing deleted.
	if err := os.Rename(dirs[1], dirs[1]+".away"); err != nil {
		t.Fatal(err)
	}
	_, err = users("delete", "--yes", onS1[1])
	if err == nil || !strings.Contains(err.Error(), "shard s1") {
		t.Errorf("users delete with s1 unreachable: %v, want an error naming shard s1", err)
	}
	if err := os.Rename(dirs[1]+".away", dirs[1]); err != nil {
		t.Fatal(err)
	}
	if r, err := directory.GetRoute(ctx, onS1[1]); err != nil || r.Shard != "s1" {
		t.Errorf("route row of %s after a failed delete: %+v, %v; want it kept", onS1[1], r, err)
	}
	if _, err := openSQLite(t, dirs[1], nil).LookupUser(ctx, onS1[1]); err != nil {
		t.Fatalf("account of %s after a failed delete: %v; want it kept", onS1[1], err)
	}
	// Run again once the shard answers: deleted.
	if out, err = users("delete", "--yes", onS1[1]); err != nil {
		t.Fatalf("users delete once s1 answers: %q, %v", out, err)
	}
	gone(onS1[1])

	// A user a migrate run holds a lease on is not touched.
	leased := syncstore.Route{Username: onS1[1], State: syncstore.RouteNative, Shard: "s1", Owner: "move-1", Origin: syncstore.RouteNative, LeaseExpires: time.Now().Add(time.Hour)}
	if err := directory.SetRoute(ctx, leased); err != nil {
		t.Fatal(err)
	}
	if _, err := users("delete", "--yes", onS1[1]); err == nil || !strings.Contains(err.Error(), "lease of move-1") {
		t.Errorf("users delete of a leased user: %v, want it refused naming the lease", err)
	}
	if _, err := directory.GetRoute(ctx, onS1[1]); err != nil {
		t.Errorf("route row of a leased user after a refused delete: %v", err)
	}
}
