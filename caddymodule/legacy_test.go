package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// legacyJSON parses a firefox_sync block and returns its legacy config as
// JSON, the form Caddy loads.
func legacyJSON(t *testing.T, input string) string {
	t.Helper()
	h, err := parseHandler(t, input)
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if h.Legacy == nil {
		t.Fatal("no legacy config")
	}
	b, err := json.Marshal(h.Legacy)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnmarshalLegacy(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"one node", `firefox_sync {
			legacy {
				node node1 {
					reverse_proxy 127.0.0.1:8081
				}
			}
		}`, `{"nodes":{"node1":{"handler":"reverse_proxy","upstreams":[{"dial":"127.0.0.1:8081"}]}}}`},
		{"reverse_proxy block parsed by the reverse proxy", `firefox_sync {
			legacy {
				node node1 {
					reverse_proxy 10.0.0.1:80 10.0.0.2:80 {
						lb_policy round_robin
						lb_try_duration 2s
						health_uri /user/1.0/healthcheck
						health_interval 10s
						transport http {
							dial_timeout 2s
							response_header_timeout 4s
						}
						header_up Host legacy.internal
					}
				}
			}
		}`, `{"nodes":{"node1":{"handler":"reverse_proxy","headers":{"request":{"set":{"Host":["legacy.internal"]}}},` +
			`"health_checks":{"active":{"interval":10000000000,"uri":"/user/1.0/healthcheck"}},` +
			`"load_balancing":{"selection_policy":{"policy":"round_robin"},"try_duration":2000000000},` +
			`"transport":{"dial_timeout":2000000000,"protocol":"http","response_header_timeout":4000000000},` +
			`"upstreams":[{"dial":"10.0.0.1:80"},{"dial":"10.0.0.2:80"}]}}}`},
		{"everything", `firefox_sync {
			legacy {
				node a {
					reverse_proxy 10.0.0.1:80
				}
				node b {
					reverse_proxy 10.0.0.2:80
				}
				default_state native
				new_users b
				host_node a
				route_cache_ttl 2s
				timeout 3s
				retry_after 90s
				stats_interval 15s
			}
		}`, `{"nodes":{"a":{"handler":"reverse_proxy","upstreams":[{"dial":"10.0.0.1:80"}]},"b":{"handler":"reverse_proxy","upstreams":[{"dial":"10.0.0.2:80"}]}},` +
			`"default_state":"native","new_users":"b","host_node":"a","route_cache_ttl":2000000000,"timeout":3000000000,"retry_after":90000000000,"stats_interval":15000000000}`},
		{"migrating back-off", `firefox_sync {
			legacy {
				node a {
					reverse_proxy 10.0.0.1:80
				}
				migrating_retry_after 3s
			}
		}`, `{"nodes":{"a":{"handler":"reverse_proxy","upstreams":[{"dial":"10.0.0.1:80"}]}},"migrating_retry_after":3000000000}`},
		{"route cache off", `firefox_sync {
			legacy {
				node a {
					reverse_proxy 10.0.0.1:80
				}
				route_cache_ttl off
			}
		}`, `{"nodes":{"a":{"handler":"reverse_proxy","upstreams":[{"dial":"10.0.0.1:80"}]}},"route_cache_ttl":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := legacyJSON(t, tc.input); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestUnmarshalLegacyErrors(t *testing.T) {
	node := "node a {\n reverse_proxy 10.0.0.1:80\n}\n"
	for _, tc := range []struct {
		name, input, wantErr string
	}{
		{"argument", "firefox_sync {\n legacy on {\n" + node + "}\n}", "wrong argument count"},
		{"no nodes", "firefox_sync {\n legacy {\n host_node a\n }\n}", "at least one node"},
		{"empty block", "firefox_sync {\n legacy\n}", "at least one node"},
		{"node without name", "firefox_sync {\n legacy {\n node {\n reverse_proxy 10.0.0.1:80\n }\n }\n}", "wrong argument count"},
		{"node without proxy", "firefox_sync {\n legacy {\n node a\n }\n}", `legacy node "a" needs a reverse_proxy`},
		{"node twice", "firefox_sync {\n legacy {\n" + node + node + "}\n}", `legacy node "a" defined twice`},
		{"two proxies", "firefox_sync {\n legacy {\n node a {\n reverse_proxy 10.0.0.1:80\n reverse_proxy 10.0.0.2:80\n }\n }\n}", "more than one reverse_proxy"},
		{"other handler in node", "firefox_sync {\n legacy {\n node a {\n respond 200\n }\n }\n}", `unknown subdirective "respond"`},
		{"bad reverse_proxy option", "firefox_sync {\n legacy {\n node a {\n reverse_proxy 10.0.0.1:80 {\n lb_try_duration forever\n }\n }\n }\n}", "forever"},
		{"bad upstream", "firefox_sync {\n legacy {\n node a {\n reverse_proxy ftp://10.0.0.1\n }\n }\n}", "ftp"},
		{"unknown subdirective", "firefox_sync {\n legacy {\n" + node + " nodes a\n }\n}", `unknown legacy subdirective "nodes"`},
		{"bad ttl", "firefox_sync {\n legacy {\n" + node + " route_cache_ttl soon\n }\n}", `route_cache_ttl "soon": not a duration`},
		{"bad timeout", "firefox_sync {\n legacy {\n" + node + " timeout 10\n }\n}", `timeout "10": not a duration`},
		{"bad migrating_retry_after", "firefox_sync {\n legacy {\n" + node + " migrating_retry_after soon\n }\n}", `migrating_retry_after "soon": not a duration`},
		{"missing new_users", "firefox_sync {\n legacy {\n" + node + " new_users\n }\n}", "wrong argument count"},
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

func TestValidateLegacy(t *testing.T) {
	node := func(names ...string) string {
		var b strings.Builder
		for _, n := range names {
			b.WriteString("node " + n + " {\n reverse_proxy 10.0.0.1:80\n}\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, block, wantErr string
	}{
		{"one node is the host node", node("a"), ""},
		{"several nodes need host_node", node("a", "b"), "host_node must say which one"},
		{"several nodes with host_node", node("a", "b") + "host_node b\n", ""},
		{"unknown host_node", node("a") + "host_node z\n", `host_node "z" is not a configured node`},
		{"new_users on a node", node("a", "b") + "host_node a\nnew_users b\n", ""},
		{"new_users on an unknown node", node("a") + "new_users z\n", `new_users "z": must be "native" or a configured node`},
		{"bad default_state", node("a") + "default_state migrating\n", `default_state "migrating"`},
		{"node named native", node("native"), `cannot be named "native"`},
		{"node name too long", node(strings.Repeat("n", 65)), "must be 1 to 64 bytes"},
		{"retry_after under a second", node("a") + "retry_after 500ms\n", "at least 1s"},
		{"migrating_retry_after under a second", node("a") + "migrating_retry_after 500ms\n", "migrating_retry_after 500ms: clients count it in whole seconds"},
		{"negative migrating_retry_after", node("a") + "migrating_retry_after -1s\n", "migrating_retry_after must not be negative"},
		{"migrating_retry_after", node("a") + "migrating_retry_after 1s\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseHandler(t, "firefox_sync {\n legacy {\n"+tc.block+"}\n}")
			if err != nil {
				t.Fatalf("parsing: %v", err)
			}
			err = h.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
