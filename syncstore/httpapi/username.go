package httpapi

import (
	"crypto/sha1"
	"encoding/base32"
	"strings"

	"golang.org/x/net/idna"
)

// UsernameFromEmail derives the Sync username of an account string
// (docs/protocol.md §2.3): a string made only of [A-Za-z0-9._-] is a legacy
// plain username and is lower-cased; anything else (an e-mail address) is
// lower-cased, its domain converted to IDNA ASCII as the Reference server
// does, and hashed to lowercase(base32(sha1(…))), 32 characters. Example:
// "alice@example.com" → "7qrzrjz52vgwen6e7w2y7v6xknd46wxt".
func UsernameFromEmail(email string) string {
	if isPlainUsername(email) {
		return strings.ToLower(email)
	}
	return hashAccount(lowerEmail(email))
}

// firefoxUsername is the derivation Firefox itself applies
// (identity.js usernameFromAccount): no IDNA step. It differs from
// UsernameFromEmail only for internationalised domains, whose users the
// strict registration check must not lock out.
func firefoxUsername(email string) string {
	if isPlainUsername(email) {
		return strings.ToLower(email)
	}
	return hashAccount(strings.ToLower(email))
}

// lowerEmail is the canonical form of an address: the domain in IDNA
// ASCII when it converts, everything lower-cased.
func lowerEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if ok {
		if ascii, err := idna.Lookup.ToASCII(domain); err == nil {
			domain = ascii
		}
		email = local + "@" + domain
	}
	return strings.ToLower(email)
}

func isPlainUsername(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func hashAccount(s string) string {
	sum := sha1.Sum([]byte(s))
	// 20 bytes are exactly 32 base32 characters: no padding to strip.
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))
}
