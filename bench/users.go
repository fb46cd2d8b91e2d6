package bench

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// identity is one bench account. Accounts are derived from a prefix, a
// role and an index, so a later run (or another server) finds the same
// names and passwords.
type identity struct {
	Email    string
	Name     string // the wire username: §2.3 hash of the e-mail
	Password string
	auth     string // the Authorization header value
}

// Roles of bench accounts: the users the workload drives, the users the
// growth scenario drives, and ballast users that only hold records.
const (
	roleMain    = "u"
	roleGrowth  = "g"
	roleBallast = "b"
)

func newIdentity(prefix, role string, i int) identity {
	email := prefix + "-" + role + strconv.Itoa(i) + "@bench.invalid"
	sum := sha256.Sum256([]byte("syncserver-bench\x00" + email))
	id := identity{
		Email:    email,
		Name:     usernameFromEmail(email),
		Password: hex.EncodeToString(sum[:10]),
	}
	id.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(id.Name+":"+id.Password))
	return id
}

// usernameFromEmail is the Sync 1.1 username of an ASCII e-mail address:
// lowercase(base32(sha1(lowercase(email)))), 32 characters (docs/protocol.md
// §2.3). Bench addresses are ASCII, so the IDNA step does not apply.
func usernameFromEmail(email string) string {
	sum := sha1.Sum([]byte(strings.ToLower(email)))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))
}
