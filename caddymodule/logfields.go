package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// userField names a user in the shim's logs. Usernames identify people
// (most are hashes of e-mail addresses, the rest chosen names), so they are
// logged only at debug level; otherwise a short hash still lets an
// operator follow one user through the logs (`syncserver routes get
// <user>` prints it).
func userField(logger *zap.Logger, name string) zap.Field {
	if logger.Core().Enabled(zapcore.DebugLevel) {
		return zap.String("user", name)
	}
	return zap.String("user_hash", userHash(name))
}

// userHash is the first 12 hex digits of SHA-256 of the username.
func userHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:6])
}
