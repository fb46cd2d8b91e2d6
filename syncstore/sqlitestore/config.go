package sqlitestore

import "time"

// Config configures the SQLite store.
type Config struct {
	// Dir holds syncserver.db and its WAL files; it is created (0700) if
	// missing. Default "./data".
	Dir string
	// Clock is the time source for write timestamps and TTL expiry. Nil
	// means time.Now; tests substitute a fake clock.
	Clock func() time.Time
	// BusyTimeout is how long a connection waits for a lock held by another
	// connection or process before failing. Default 5 s.
	BusyTimeout time.Duration
}

// Defaults for unset Config fields.
const (
	DefaultDir         = "./data"
	DefaultBusyTimeout = 5 * time.Second
	// DBFile is the database file's name inside Config.Dir.
	DBFile = "syncserver.db"
	// readConns bounds the read pool: SQLite readers run in parallel under
	// WAL, but more connections than cores only add memory.
	readConns = 4
)

func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	return c
}
