package mysqlstore

import (
	"strings"
	"testing"
)

// FuzzDSNPassword builds DSNs user:password@rest, well-formed or not:
// whatever the driver makes of them, neither the error for a refused DSN
// nor the description used in later errors and logs shows the password.
func FuzzDSNPassword(f *testing.F) {
	for _, s := range [][3]string{
		{"root", "s3cr/et!", "tcp(127.0.0.1:3306)/db"},
		{"root", "s3cr/et!", "tcp(127.0.0.1:3306)"},
		{"root", "s3cr/et!", "tcp(127.0.0.1:3306/db"},
		{"root", "pa@ss/word", "tcp(db:3306)/sync?tls=bogus"},
		{"root", "pa(ss)wd", "tcp(db:3306)/sync?parseTime=maybe"},
		{"sync", "p@ss@word", "unix(/run/mysqld/mysqld.sock)/sync"},
		{"sync", "secret%zz", "tcp(db)/sync%zz"},
		{"u", "x)y@tcp(z", "/db"},
		{"u", "hunter22", "udp(db:3306)/sync"},
		{"u", "hunter22", "tcp(db:3306)/sync?timeout=forever&readTimeout=1s"},
		{"u", "hunter22", "tcp(db:3306)/sy@nc"},
		{"u", "hunter22", "tcp(db:3306)/sync?charset=hunter22"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	// The password is framed by markers that cannot occur elsewhere, so
	// showing any piece of it that reaches either end is caught, however
	// the driver splits the DSN.
	const head, tail = "Hq7Zx", "Wm3Vb"
	f.Fuzz(func(t *testing.T, user, password, rest string) {
		if strings.ContainsAny(user, ":@/?()") {
			return // no DSN can hold such a user name
		}
		for _, s := range []string{user, rest, password} {
			if strings.Contains(s, head) || strings.Contains(s, tail) {
				return
			}
		}
		dsn := user + ":" + head + password + tail + "@" + rest
		shown := ""
		if cfg, err := driverConfig(dsn, nil); err != nil {
			shown = err.Error()
		} else {
			shown = describe(cfg)
		}
		if strings.Contains(shown, head) || strings.Contains(shown, tail) {
			t.Fatalf("DSN %q: %q shows the password", dsn, shown)
		}
	})
}
