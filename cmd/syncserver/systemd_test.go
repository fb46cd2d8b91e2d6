package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unitPath is the systemd unit the README documents.
const unitPath = "../../docs/deploy/syncserver.service"

// unitBinary is where the unit expects the binary.
const unitBinary = "/usr/local/bin/syncserver"

// TestSystemdUnitHardening pins what the README promises about the unit:
// a dedicated user, a state directory, a read-only system, only the
// capability to bind low ports, reloads through syncserver reload.
func TestSystemdUnitHardening(t *testing.T) {
	settings := readUnit(t)
	for key, want := range map[string]string{
		"User":                  "syncserver",
		"Group":                 "syncserver",
		"StateDirectory":        "syncserver",
		"WorkingDirectory":      "/var/lib/syncserver",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"ExecStart":             unitBinary + " run --config /etc/syncserver/Caddyfile",
		"ExecReload":            unitBinary + " reload --config /etc/syncserver/Caddyfile --force",
	} {
		got := settings[key]
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want exactly %q", key, got, want)
		}
	}
	// The commands the unit runs must exist with the flags it gives them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"run", "--help"}, []string{"--config"}},
		{[]string{"reload", "--help"}, []string{"--config", "--force"}},
	} {
		cmd, out := syncserver(ctx, t.TempDir(), c.args...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("syncserver %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
		for _, f := range c.flags {
			if !strings.Contains(out.String(), f) {
				t.Errorf("syncserver %s does not offer %s, which the unit uses", c.args[0], f)
			}
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze on the unit: verify must
// not find anything to complain about (it reports unknown keys and bad
// values as warnings but exits 0, so any output about the unit fails),
// and the offline security analysis must rate it at most 2.0 ("OK").
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd; `make services` does it): " +
			"docs/deploy/syncserver.service is not verified")
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that the binary exists; this test binary stands in
	// for it (it is syncserver when re-executed).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "syncserver.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte(unitBinary), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out, err := exec.CommandContext(ctx, analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "syncserver") {
			t.Errorf("systemd-analyze verify: %s", strings.TrimSpace(line))
		} else if strings.TrimSpace(line) != "" {
			t.Logf("systemd-analyze verify (not about the unit): %s", strings.TrimSpace(line))
		}
	}

	out, err = exec.CommandContext(ctx, analyze, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0 (or failed): %v\n%s", err, out)
	}
}

// readUnit returns the unit's settings, key to values in order.
func readUnit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("unit line %q is not key=value", line)
			continue
		}
		settings[key] = append(settings[key], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}
