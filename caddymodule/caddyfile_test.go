package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) caddy.Duration { return caddy.Duration(d) }

func parseHandler(t *testing.T, input string) (*Handler, error) {
	t.Helper()
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  Handler
	}{
		{"empty", `firefox_sync`, Handler{}},
		{"empty block", "firefox_sync {\n}", Handler{}},
		{"sqlite dir inline", `firefox_sync {
			database sqlite /var/lib/sync
		}`, Handler{Database: &Database{Driver: "sqlite", Dir: "/var/lib/sync"}}},
		{"sqlite dir in block", `firefox_sync {
			database sqlite {
				dir ./d
			}
		}`, Handler{Database: &Database{Driver: "sqlite", Dir: "./d"}}},
		{"mysql everything", `firefox_sync {
			database mysql {env.SYNCSERVER_MYSQL_DSN} {
				max_open_conns 30
				max_idle_conns 5
				conn_max_lifetime 2m
			}
		}`, Handler{Database: &Database{Driver: "mysql", DSN: "{env.SYNCSERVER_MYSQL_DSN}", MaxOpenConns: 30, MaxIdleConns: 5, ConnMaxLifetime: dur(2 * time.Minute)}}},
		{"mysql dsn in block", `firefox_sync {
			database mysql {
				dsn "u:p@tcp(db:3306)/s"
			}
		}`, Handler{Database: &Database{Driver: "mysql", DSN: "u:p@tcp(db:3306)/s"}}},
		{"memcached", `firefox_sync {
			memcached 10.0.0.1:11211 10.0.0.2:11211 {
				servers /run/memcached.sock
				prefix sync1:
				ttl 10m
				timeout 50ms
			}
		}`, Handler{Memcached: &Memcached{Servers: []string{"10.0.0.1:11211", "10.0.0.2:11211", "/run/memcached.sock"}, Prefix: "sync1:", TTL: dur(10 * time.Minute), Timeout: dur(50 * time.Millisecond)}}},
		{"public_url", `firefox_sync {
			public_url https://sync.example.com/
		}`, Handler{PublicURL: "https://sync.example.com/"}},
		{"registration closed", `firefox_sync {
			registration closed
		}`, Handler{Registration: "closed"}},
		{"registration allowlist inline and repeated", `firefox_sync {
			registration allowlist alice@example.com
			allowlist bob@example.com legacyname
		}`, Handler{Registration: "allowlist", Allowlist: []string{"alice@example.com", "bob@example.com", "legacyname"}}},
		{"allow_plain_usernames", `firefox_sync {
			allow_plain_usernames
		}`, Handler{AllowPlainUsernames: true}},
		{"captcha inline", `firefox_sync {
			captcha pub priv https://captcha.example/verify
		}`, Handler{Captcha: &Captcha{PublicKey: "pub", PrivateKey: "priv", VerifyURL: "https://captcha.example/verify"}}},
		{"captcha block", `firefox_sync {
			captcha {
				public_key pub
				private_key {env.CAPTCHA_KEY}
			}
		}`, Handler{Captcha: &Captcha{PublicKey: "pub", PrivateKey: "{env.CAPTCHA_KEY}"}}},
		{"shared_secret", `firefox_sync {
			shared_secret s3cret
		}`, Handler{SharedSecret: "s3cret"}},
		{"quota size", `firefox_sync {
			quota 10MiB
		}`, Handler{QuotaBytes: ptr(int64(10 << 20))}},
		{"quota decimal units", `firefox_sync {
			quota 5MB
		}`, Handler{QuotaBytes: ptr(int64(5_000_000))}},
		{"quota off", `firefox_sync {
			quota off
		}`, Handler{QuotaBytes: ptr(int64(0))}},
		{"limits", `firefox_sync {
			max_post_records 50
			max_post_bytes 512KiB
			max_payload_bytes 100000
			max_request_bytes 4MiB
		}`, Handler{MaxPostRecords: 50, MaxPostBytes: 512 << 10, MaxPayloadBytes: 100000, MaxRequestBytes: 4 << 20}},
		{"body budget", `firefox_sync {
			body_budget_bytes 128MiB
			body_wait 500ms
		}`, Handler{BodyBudgetBytes: 128 << 20, BodyWait: dur(500 * time.Millisecond)}},
		{"retry_after", `firefox_sync {
			retry_after 10m
		}`, Handler{RetryAfter: dur(10 * time.Minute)}},
		{"auth", `firefox_sync {
			bcrypt_cost 12
			auth_cache_ttl 1m
			auth_cache_size 500
		}`, Handler{BcryptCost: 12, AuthCacheTTL: dur(time.Minute), AuthCacheSize: 500}},
		{"auth cache off", `firefox_sync {
			auth_cache_size off
		}`, Handler{AuthCacheSize: -1}},
		{"auth_throttle", `firefox_sync {
			auth_throttle {
				per_user 5
				per_address off
				window 10m
				max_backoff 2m
				max_entries 5000
			}
		}`, Handler{AuthThrottle: &AuthThrottle{PerUser: 5, PerAddress: -1, Window: dur(10 * time.Minute), MaxBackoff: dur(2 * time.Minute), MaxEntries: 5000}}},
		{"auth_throttle off", `firefox_sync {
			auth_throttle off
		}`, Handler{AuthThrottle: &AuthThrottle{PerUser: -1, PerAddress: -1}}},
		{"purge_interval", `firefox_sync {
			purge_interval 15m
		}`, Handler{PurgeInterval: ptr(dur(15 * time.Minute))}},
		{"purge_interval off", `firefox_sync {
			purge_interval off
		}`, Handler{PurgeInterval: ptr(dur(0))}},
		// 0 stays allowed where it means something other than the default.
		{"zeros that mean off or closed", `firefox_sync {
			quota 0
			purge_interval 0
			shard s1 {
				database sqlite ./s1
				weight 0
			}
		}`, Handler{QuotaBytes: ptr(int64(0)), PurgeInterval: ptr(dur(0)), Shards: []Shard{{Name: "s1", Database: &Database{Driver: "sqlite", Dir: "./s1"}, Weight: ptr(0)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHandler(t, tc.input)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(tc.want)
				t.Errorf("got  %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, wantErr string
	}{
		{"argument on directive line", `firefox_sync mysql`, `unexpected argument "mysql"`},
		{"unknown subdirective", "firefox_sync {\n quota_bytes 5\n}", `unknown subdirective "quota_bytes"`},
		{"unknown database driver", "firefox_sync {\n database postgres dsn\n}", `unknown database driver "postgres"`},
		{"database missing driver", "firefox_sync {\n database\n}", "wrong argument count"},
		{"database extra argument", "firefox_sync {\n database sqlite a b\n}", "wrong argument count"},
		{"unknown database subdirective", "firefox_sync {\n database mysql {\n  pool 3\n }\n}", `unknown database subdirective "pool"`},
		{"bad number", "firefox_sync {\n max_post_records lots\n}", `max_post_records "lots": not a whole number`},
		{"bad pool number", "firefox_sync {\n database mysql x {\n  max_open_conns 1.5\n }\n}", `max_open_conns "1.5": not a whole number`},
		{"bad size", "firefox_sync {\n quota big\n}", `quota "big": not a size`},
		{"negative size", "firefox_sync {\n max_request_bytes -5\n}", `max_request_bytes "-5": not a size`},
		{"bad duration", "firefox_sync {\n retry_after soon\n}", `retry_after "soon": not a duration`},
		{"bad purge interval", "firefox_sync {\n purge_interval never\n}", `purge_interval "never": not a duration`},
		{"bad auth cache size", "firefox_sync {\n auth_cache_size many\n}", `auth_cache_size "many"`},
		{"auth_throttle bad argument", "firefox_sync {\n auth_throttle on\n}", "wrong argument count"},
		{"auth_throttle bad number", "firefox_sync {\n auth_throttle {\n  per_user many\n }\n}", `per_user "many": want a whole number or off`},
		{"auth_throttle bad duration", "firefox_sync {\n auth_throttle {\n  window long\n }\n}", `window "long": not a duration`},
		{"unknown auth_throttle subdirective", "firefox_sync {\n auth_throttle {\n  per_host 3\n }\n}", `unknown auth_throttle subdirective "per_host"`},
		{"missing public_url", "firefox_sync {\n public_url\n}", "wrong argument count"},
		{"two public_urls", "firefox_sync {\n public_url a b\n}", "wrong argument count"},
		{"missing registration", "firefox_sync {\n registration\n}", "wrong argument count"},
		{"empty allowlist", "firefox_sync {\n allowlist\n}", "wrong argument count"},
		{"missing quota", "firefox_sync {\n quota\n}", "wrong argument count"},
		{"allow_plain_usernames with argument", "firefox_sync {\n allow_plain_usernames yes\n}", "wrong argument count"},
		{"captcha one key", "firefox_sync {\n captcha pub\n}", "wrong argument count"},
		{"unknown captcha subdirective", "firefox_sync {\n captcha {\n  theme dark\n }\n}", `unknown captcha subdirective "theme"`},
		{"memcached without servers", "firefox_sync {\n memcached\n}", "at least one server"},
		{"unknown memcached subdirective", "firefox_sync {\n memcached a:1 {\n  weight 2\n }\n}", `unknown memcached subdirective "weight"`},
		// A setting given twice would silently lose the first value.
		{"database twice", "firefox_sync {\n database sqlite ./a\n database sqlite ./b\n}", `database given twice`},
		{"public_url twice", "firefox_sync {\n public_url https://a/\n public_url https://b/\n}", `public_url given twice`},
		{"registration twice", "firefox_sync {\n registration closed\n registration open\n}", `registration given twice`},
		{"memcached twice", "firefox_sync {\n memcached a:1\n memcached b:1\n}", `memcached given twice`},
		{"quota twice", "firefox_sync {\n quota 1MiB\n quota off\n}", `quota given twice`},
		{"legacy twice", "firefox_sync {\n legacy {\n  node a {\n   reverse_proxy 127.0.0.1:1\n  }\n }\n legacy {\n  node b {\n   reverse_proxy 127.0.0.1:2\n  }\n }\n}", `legacy given twice`},
		{"database dir twice", "firefox_sync {\n database sqlite {\n  dir ./a\n  dir ./b\n }\n}", `dir given twice`},
		{"database dir inline and in block", "firefox_sync {\n database sqlite ./a {\n  dir ./b\n }\n}", `dir given twice`},
		{"database dsn inline and in block", "firefox_sync {\n database mysql x {\n  dsn y\n }\n}", `dsn given twice`},
		{"memcached ttl twice", "firefox_sync {\n memcached a:1 {\n  ttl 1m\n  ttl 2m\n }\n}", `ttl given twice`},
		{"captcha key inline and in block", "firefox_sync {\n captcha pub priv {\n  public_key p2\n }\n}", `public_key given twice`},
		{"auth_throttle window twice", "firefox_sync {\n auth_throttle {\n  window 1m\n  window 2m\n }\n}", `window given twice`},
		{"auth_throttle off with limits", "firefox_sync {\n auth_throttle off {\n  per_user 5\n }\n}", `auth_throttle off`},
		{"legacy default_state twice", "firefox_sync {\n legacy {\n  node a {\n   reverse_proxy 127.0.0.1:1\n  }\n  default_state legacy\n  default_state native\n }\n}", `default_state given twice`},
		{"shard database twice", "firefox_sync {\n shard s1 {\n  database sqlite ./a\n  database sqlite ./b\n }\n}", `database given twice`},
		{"shard weight twice", "firefox_sync {\n shard s1 {\n  database sqlite ./a\n  weight 1\n  weight 2\n }\n}", `weight given twice`},
		// 0 would silently mean the default: refused, with what to do.
		{"max_post_records 0", "firefox_sync {\n max_post_records 0\n}", `max_post_records 0: must be positive (0 would mean the default; leave max_post_records out for that)`},
		{"bcrypt_cost 0", "firefox_sync {\n bcrypt_cost 0\n}", `bcrypt_cost 0: must be positive`},
		{"max_post_bytes 0", "firefox_sync {\n max_post_bytes 0\n}", `max_post_bytes 0: must be positive`},
		{"body_budget_bytes 0B", "firefox_sync {\n body_budget_bytes 0B\n}", `body_budget_bytes 0B: must be positive`},
		{"body_wait 0", "firefox_sync {\n body_wait 0\n}", `body_wait 0: must be positive`},
		{"retry_after 0s", "firefox_sync {\n retry_after 0s\n}", `retry_after 0s: must be positive`},
		{"auth_cache_size 0", "firefox_sync {\n auth_cache_size 0\n}", `auth_cache_size 0: must be positive (0 would mean the default; leave auth_cache_size out for that, or write off)`},
		{"max_idle_conns 0", "firefox_sync {\n database mysql x {\n  max_idle_conns 0\n }\n}", `max_idle_conns 0: must be positive`},
		{"conn_max_lifetime 0", "firefox_sync {\n database mysql x {\n  conn_max_lifetime 0\n }\n}", `conn_max_lifetime 0: must be positive`},
		{"memcached timeout 0", "firefox_sync {\n memcached a:1 {\n  timeout 0\n }\n}", `timeout 0: must be positive`},
		{"auth_throttle per_user 0", "firefox_sync {\n auth_throttle {\n  per_user 0\n }\n}", `per_user 0: must be positive (0 would mean the default; leave per_user out for that, or write off)`},
		{"auth_throttle max_entries 0", "firefox_sync {\n auth_throttle {\n  max_entries 0\n }\n}", `max_entries 0: must be positive`},
		{"legacy timeout 0", "firefox_sync {\n legacy {\n  node a {\n   reverse_proxy 127.0.0.1:1\n  }\n  timeout 0\n }\n}", `timeout 0: must be positive`},
		// A node proxying to nowhere would answer every one of its users 502.
		{"legacy node without upstreams", "firefox_sync {\n legacy {\n  node a {\n   reverse_proxy\n  }\n }\n}", `legacy node "a": reverse_proxy needs at least one upstream`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseHandler(t, tc.input)
			if err == nil {
				t.Fatalf("no error; want one containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestCaddyfileGolden adapts the production example Caddyfile at the top
// of the repository, as `syncserver adapt --config Caddyfile` does, and
// compares the JSON with testdata/Caddyfile.golden.json (go test -update
// rewrites it).
func TestCaddyfileGolden(t *testing.T) {
	input, err := os.ReadFile(filepath.Join("..", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	out, warnings, err := adapter.Adapt(input, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapt warning: %s", w)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')

	golden := filepath.Join("testdata", "Caddyfile.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestCaddyfileGolden -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("adapted Caddyfile differs from %s (go test -update rewrites it):\n%s", golden, got.String())
	}

	// Every handler of the example must be a valid configuration: one
	// database, registration closed, a legacy block per site whose
	// host_node is that site's node.
	handlers := findFirefoxSync(t, out)
	if len(handlers) != 2 {
		t.Fatalf("%d firefox_sync handlers in the adapted Caddyfile, want 2 (one per site)", len(handlers))
	}
	t.Setenv("SYNCSERVER_MYSQL_DSN", "sync:secret@tcp(127.0.0.1:3306)/sync")
	hostNodes := map[string]string{}
	for _, found := range handlers {
		found.replacePlaceholders(caddy.NewReplacer())
		if err := found.Validate(); err != nil {
			t.Errorf("example Caddyfile's handler does not validate: %v", err)
		}
		if found.Database.DSN != "sync:secret@tcp(127.0.0.1:3306)/sync" {
			t.Errorf("DSN placeholder not replaced: %q", found.Database.DSN)
		}
		if found.registration() != RegistrationClosed {
			t.Errorf("registration = %q, want closed", found.registration())
		}
		if found.Legacy == nil || len(found.Legacy.NodesRaw) != 2 {
			t.Fatalf("%s: no legacy block with two nodes", found.PublicURL)
		}
		hostNodes[found.PublicURL] = found.Legacy.HostNode
	}
	wantNodes := map[string]string{"https://sync.example.com/": "node1", "https://node2.sync.example.com/": "node2"}
	if !reflect.DeepEqual(hostNodes, wantNodes) {
		t.Errorf("host nodes per site %v, want %v", hostNodes, wantNodes)
	}
}

// findFirefoxSync digs the firefox_sync handlers out of an adapted
// config, wherever the Caddyfile adapter nested them (subroutes).
func findFirefoxSync(t *testing.T, config []byte) []*Handler {
	t.Helper()
	var found []*Handler
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "firefox_sync" {
				raw, _ := json.Marshal(v)
				h := new(Handler)
				if err := json.Unmarshal(raw, h); err != nil {
					t.Fatalf("decoding firefox_sync handler: %v", err)
				}
				found = append(found, h)
				return
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var v any
	if err := json.Unmarshal(config, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
	return found
}

func TestValidateBodyBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       Handler
		wantErr string
	}{
		{"defaults", Handler{}, ""},
		{"budget fits request", Handler{MaxRequestBytes: 4 << 20, BodyBudgetBytes: 4 << 20}, ""},
		{"negative budget", Handler{BodyBudgetBytes: -1}, "body_budget_bytes must not be negative"},
		{"negative wait", Handler{BodyWait: -1}, "body_wait must not be negative"},
		{"budget below max_request_bytes", Handler{MaxRequestBytes: 4 << 20, BodyBudgetBytes: 1 << 20},
			"body_budget_bytes (1048576) is less than max_request_bytes (4194304)"},
		// The default request limit follows max_post_bytes: 100 × 1 KiB + 2 × 8 MiB.
		{"budget below derived request limit", Handler{MaxPostBytes: 8 << 20, BodyBudgetBytes: 16 << 20},
			"body_budget_bytes (16777216) is less than max_request_bytes (16879616)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
