package syncstore

import (
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// Account is a user as an operator or a client names them: the Sync
// username the store keys everything by and, when the name typed was an
// e-mail address, that address as typed (trimmed).
type Account struct {
	Name  string
	Email string
	// Typed is what the operator gave, for messages that must name it.
	Typed string
}

// String names the account for messages: the username, with the address
// typed when there was one.
func (a Account) String() string {
	if a.Email == "" {
		return a.Name
	}
	return a.Name + " (" + a.Email + ")"
}

// ParseAccount is the one rule for naming a user (operator commands, the
// admin API, the migrate tool): an e-mail address is hashed to its Sync
// username (UsernameFromEmail), anything else must be a Sync username
// (1–32 of A-Z a-z 0-9 . _ -) and is lower-cased. Whether the user exists
// is the caller's question.
func ParseAccount(typed string) (Account, error) {
	s := strings.TrimSpace(typed)
	a := Account{Typed: typed}
	if strings.Contains(s, "@") {
		local, domain, _ := strings.Cut(s, "@")
		if local == "" || domain == "" || strings.ContainsAny(s, " \t\r\n") {
			return a, fmt.Errorf("%q is not an e-mail address", typed)
		}
		a.Email = s
		a.Name = UsernameFromEmail(s)
		return a, nil
	}
	if !ValidUsername(s) {
		return a, fmt.Errorf("%q is neither an e-mail address nor a Sync username (1-32 of A-Z a-z 0-9 . _ -)", typed)
	}
	a.Name = NormalizeUsername(s)
	return a, nil
}

// UsernameFromEmail derives the Sync username of an account string
// (docs/protocol.md §2.3): a string made only of [A-Za-z0-9._-] is a legacy
// plain username and is lower-cased; anything else (an e-mail address) is
// lower-cased, its domain converted to IDNA ASCII as the Reference server
// does, and hashed to lowercase(base32(sha1(…))), 32 characters. Example:
// "alice@example.com" → "7qrzrjz52vgwen6e7w2y7v6xknd46wxt".
func UsernameFromEmail(email string) string {
	if IsPlainUsername(email) {
		return strings.ToLower(email)
	}
	return HashAccount(CanonicalEmail(email))
}

// HashAccount is lowercase(base32(sha1(s))) without further
// normalisation: the step Firefox (identity.js usernameFromAccount) and
// the servers share.
func HashAccount(s string) string {
	sum := sha1.Sum([]byte(s))
	// 20 bytes are exactly 32 base32 characters: no padding to strip.
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))
}

// CanonicalEmail is the form addresses are hashed and compared in: the
// domain in IDNA ASCII when it converts, everything lower-cased.
func CanonicalEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if ok {
		if ascii, err := idna.Lookup.ToASCII(domain); err == nil {
			domain = ascii
		}
		email = local + "@" + domain
	}
	return strings.ToLower(email)
}

// IsPlainUsername reports whether s is made only of [A-Za-z0-9._-]: a
// legacy Weave username rather than an e-mail address, whatever its length.
func IsPlainUsername(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
