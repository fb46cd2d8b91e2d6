package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate/legacytest"
)

// TestMigrateReadsMemcachedFromCaddyfile: `migrate --config Caddyfile`
// finds the server's memcached in the firefox_sync block, as the server
// resolves it ({env.…}), and takes a Caddyfile without one (the
// production example, where it is commented out) as a server without
// memcached: no warning either way.
func TestMigrateReadsMemcachedFromCaddyfile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := legacytest.Layout{Variant: legacytest.FSyncMS}
	name, db := legacytest.NewDatabase(t, "mig_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	users := legacytest.Generate(3, l, legacytest.Spec{Users: 2, Records: []int{20}, BcryptCost: 4})
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(`:0 {
	firefox_sync {
		memcached {env.TEST_MEMCACHED} {
			prefix caddyfile-test:
		}
	}
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	production, err := filepath.Abs("../../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ config, want string }{
		{caddyfile, `"memcached": "127.0.0.1:11211 prefix caddyfile-test:"`},
		{production, `"memcached": "off"`},
	} {
		cmd, out := syncserver(ctx, dir, "migrate", "--config", tc.config, "--legacy-dsn", legacytest.DSN(t, name),
			"--data", dir, "--create", "--drain", "1ms", "--lease", "5s", users[i].Name)
		cmd.Env = append(cmd.Env, "TEST_MEMCACHED=127.0.0.1:11211")
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), "warn") {
			t.Errorf("migrate --config %s: %v, want %s and no warning:\n%s", filepath.Base(tc.config), err, tc.want, out)
		}
	}
}
