package syncstore_test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncserver/syncserver/syncstore"
)

// TestUserField: usernames reach the logs only at debug level.
func TestUserField(t *testing.T) {
	const name = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	for _, tc := range []struct {
		level     zapcore.Level
		key, want string
	}{
		{zapcore.InfoLevel, "user_hash", syncstore.UserHash(name)},
		{zapcore.ErrorLevel, "user_hash", syncstore.UserHash(name)},
		{zapcore.DebugLevel, "user", name},
	} {
		core, logs := observer.New(tc.level)
		logger := zap.New(core)
		logger.Error("legacy node unavailable", syncstore.UserField(logger, name))
		fields := logs.All()[0].ContextMap()
		if fields[tc.key] != tc.want || len(fields) != 1 {
			t.Errorf("at %v: fields %v, want only %s=%s", tc.level, fields, tc.key, tc.want)
		}
	}
	// The hash is the documented prefix of SHA-256, so operators can
	// compute it with sha256sum: printf %s NAME | sha256sum | cut -c1-12.
	if h := syncstore.UserHash(name); h != "268a13126092" {
		t.Errorf("UserHash = %q", h)
	}
	if syncstore.UserHash(name) == syncstore.UserHash("another") {
		t.Error("two users share a hash")
	}
}
