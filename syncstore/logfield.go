package syncstore

import (
	"crypto/sha256"
	"encoding/hex"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// UserField names a user in a structured log entry. Usernames identify
// people (most are hashes of e-mail addresses, the rest chosen names), so
// they are logged as they are only when logger is at debug level;
// otherwise as "user_hash", a short hash that still lets an operator follow
// one user through the logs (`syncserver routes get <user>` prints it).
func UserField(logger *zap.Logger, name string) zap.Field {
	if logger.Core().Enabled(zapcore.DebugLevel) {
		return zap.String("user", name)
	}
	return zap.String("user_hash", UserHash(name))
}

// UserHash is the first 12 hex digits of SHA-256 of the username as
// given: callers pass the normalized (lower-case) name, so that every log
// line about one account carries the same hash.
func UserHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:6])
}
