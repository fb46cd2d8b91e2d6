package caddymodule

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestUserField: usernames reach the logs only at debug level.
func TestUserField(t *testing.T) {
	const name = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	for _, tc := range []struct {
		level     zapcore.Level
		key, want string
	}{
		{zapcore.InfoLevel, "user_hash", userHash(name)},
		{zapcore.DebugLevel, "user", name},
	} {
		core, logs := observer.New(tc.level)
		logger := zap.New(core)
		logger.Warn("legacy node unavailable", userField(logger, name))
		fields := logs.All()[0].ContextMap()
		if fields[tc.key] != tc.want || len(fields) != 1 {
			t.Errorf("at %v: fields %v, want only %s=%s", tc.level, fields, tc.key, tc.want)
		}
	}
	if h := userHash(name); len(h) != 12 || h == userHash("another") {
		t.Errorf("userHash = %q", h)
	}
}
