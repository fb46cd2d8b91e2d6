package httpapi

import (
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// UsernameFromEmail derives the Sync username of an account string; see
// syncstore.UsernameFromEmail, where the rule lives for every caller.
func UsernameFromEmail(email string) string {
	return syncstore.UsernameFromEmail(email)
}

// firefoxUsername is the derivation Firefox itself applies
// (identity.js usernameFromAccount): no IDNA step. It differs from
// UsernameFromEmail only for internationalised domains, whose users the
// strict registration check must not lock out.
func firefoxUsername(email string) string {
	if syncstore.IsPlainUsername(email) {
		return strings.ToLower(email)
	}
	return syncstore.HashAccount(strings.ToLower(email))
}

// lowerEmail is syncstore.CanonicalEmail.
func lowerEmail(email string) string { return syncstore.CanonicalEmail(email) }
