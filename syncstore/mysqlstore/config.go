package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// Config configures Open.
type Config struct {
	// DSN is a go-sql-driver/mysql data source name,
	// "user:password@tcp(host:3306)/dbname?param=value". It must name a
	// database. Settings the store depends on (parseTime, interpolateParams,
	// multiStatements, charset, sql_mode, isolation level, clientFoundRows)
	// are forced; other parameters (tls, timeouts, …) are kept.
	DSN string
	// MaxOpenConns bounds the pool (0 → 20).
	MaxOpenConns int
	// MaxIdleConns is how many idle connections stay open (0 → 20, the
	// pool's default size: fewer closes connections after every burst
	// and prepares their statements again on the next).
	MaxIdleConns int
	// ConnMaxLifetime recycles connections, so load balancers and failovers
	// see them move (0 → 5 minutes).
	ConnMaxLifetime time.Duration
	// Clock is the time source for write timestamps and TTLs (nil →
	// time.Now).
	Clock func() time.Time
	// Logger receives the driver's own messages (dropped idle connections
	// and the like) as warnings; nil leaves them on the driver's default
	// logger (standard error).
	Logger *zap.Logger

	// prepareStatements turns the driver's interpolation off (every
	// statement prepared, executed and closed), for the benchmark that
	// justifies having it on; the hot write statements are prepared once
	// either way.
	prepareStatements bool
	// noFusing keeps every statement of a transaction a round trip of
	// its own, COMMIT included, for the benchmark that justifies fusing
	// them (fusedtx.go).
	noFusing bool
	// noReturning makes a MariaDB store delete by ids as on MySQL (the
	// rows read locking first, then deleted), so the tests cover the path
	// MySQL servers take.
	noReturning bool
	// dial, when set, opens the network connections (tests count the
	// round trips on them).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Defaults for the zero values of Config.
const (
	DefaultMaxOpenConns    = 20
	DefaultMaxIdleConns    = 20
	DefaultConnMaxLifetime = 5 * time.Minute

	// defaultDialTimeout bounds connecting when the DSN sets no timeout, so
	// an unreachable server fails a request instead of hanging it.
	defaultDialTimeout = 5 * time.Second
	// defaultIOTimeout bounds each network read and write on a connection
	// when the DSN sets none: a server that stops answering mid-query (a
	// partition, a frozen host) then fails the request with a 503 after
	// this long instead of holding it until TCP keepalive gives up.
	defaultIOTimeout = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxOpenConns <= 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxIdleConns > c.MaxOpenConns {
		c.MaxIdleConns = c.MaxOpenConns
	}
	if c.ConnMaxLifetime <= 0 {
		c.ConnMaxLifetime = DefaultConnMaxLifetime
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// sqlMode is forced on every connection: strict, so an out-of-range or
// over-long value fails instead of being truncated silently, and without
// ANSI_QUOTES or NO_BACKSLASH_ESCAPES, which would change how the queries
// and the driver's interpolated literals parse.
const sqlMode = "'STRICT_ALL_TABLES,ONLY_FULL_GROUP_BY,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"

// driverConfig parses dsn and forces the settings the store relies on.
func driverConfig(dsn string, logger *zap.Logger) (*mysql.Config, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("invalid MySQL DSN: empty (want user:password@tcp(host:3306)/dbname)")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid MySQL DSN: %s (want user:password@tcp(host:3306)/dbname)", dsnErrorText(dsn, err))
	}
	// Checked before anything quotes the parsed parts: in a malformed DSN
	// they can hold pieces of the password.
	switch cfg.Net {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, errors.New("invalid MySQL DSN: unknown network before the address (want user:password@tcp(host:port)/dbname or …@unix(/path)/dbname)")
	}
	if strings.ContainsAny(cfg.DBName, "@()") {
		return nil, errors.New("invalid MySQL DSN: the database name holds '@' or parentheses; is the '/' before the database name missing?")
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("invalid MySQL DSN for %s: no database name after the '/'", describe(cfg))
	}
	// Timestamps are BIGINT columns; nothing is a DATETIME.
	cfg.ParseTime = false
	// The driver then sends each statement as one text query instead of
	// prepare + execute + close: a 100-record write takes 7 round trips
	// instead of 12. On loopback that is within noise
	// (BenchmarkPutRecords100); across a network each one is a full RTT.
	// Safe because the connection charset is forced to utf8mb4 below.
	cfg.InterpolateParams = true
	// UPDATE reports matched rows, so storing unchanged values is not
	// mistaken for a missing row.
	cfg.ClientFoundRows = true
	// Not from the DSN: Open turns it on with interpolation, for the
	// fused transactions of fusedtx.go only.
	cfg.MultiStatements = false
	if err := cfg.Apply(mysql.Charset("utf8mb4", "utf8mb4_unicode_ci")); err != nil {
		return nil, fmt.Errorf("setting the connection charset: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = defaultIOTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultIOTimeout
	}
	if cfg.Params == nil {
		cfg.Params = make(map[string]string)
	}
	cfg.Params["sql_mode"] = sqlMode
	if logger != nil {
		cfg.Logger = driverLogger{logger}
	}
	return cfg, nil
}

// describe names the server and database of cfg for error messages,
// never the password.
func describe(cfg *mysql.Config) string {
	return fmt.Sprintf("%s@%s(%s)/%s", cfg.User, cfg.Net, cfg.Addr, cfg.DBName)
}

// dsnErrorText is the driver's complaint about dsn without any part of the
// password. A malformed DSN can make the driver quote pieces of it (as the
// "network" or the database name), and in a malformed DSN nobody knows
// where the password ends, so the messages that quote are replaced.
func dsnErrorText(dsn string, err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "default addr for network"):
		return "unknown network before the address"
	case strings.HasPrefix(msg, "invalid dbname"):
		return "the database name is not validly %-escaped"
	}
	// Other messages quote parameter values only, but scrub anything that
	// could be the password all the same.
	if at := strings.LastIndexByte(dsn, '@'); at > 0 {
		if colon := strings.IndexByte(dsn[:at], ':'); colon >= 0 && colon+1 < at {
			msg = strings.ReplaceAll(msg, dsn[colon+1:at], "***")
		}
	}
	return msg
}

// driverLogger hands the driver's messages to zap.
type driverLogger struct{ l *zap.Logger }

func (d driverLogger) Print(v ...any) {
	d.l.Warn("mysql driver", zap.String("message", strings.TrimSpace(fmt.Sprint(v...))))
}
