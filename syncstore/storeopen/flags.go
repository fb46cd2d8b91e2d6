package storeopen

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/syncstore"
)

// AddFlags adds the flags that select a database: --db, --data, --dsn and
// --create. Every command that opens the native database uses these.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("db", "", "Database driver: sqlite or mysql (default: mysql when $"+DSNEnv+" is set, else sqlite)")
	fs.String("data", DefaultDir, "SQLite data directory (the server's database dir)")
	fs.String("dsn", "", "MySQL DSN, user:password@tcp(host:3306)/dbname (default: $"+DSNEnv+")")
	fs.Bool("create", false, "Create the database if it does not exist yet (otherwise a missing database is an error)")
}

// FromFlags builds the Config the flags of AddFlags describe. getenv reads
// the environment (os.Getenv; tests pass their own). The driver is --db
// when given; otherwise MySQL when --dsn is given or DSNEnv is set and
// --data is not, otherwise SQLite.
func FromFlags(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	driver, _ := fs.GetString("db")
	dsn, _ := fs.GetString("dsn")
	create, _ := fs.GetBool("create")
	envDSN := getenv(DSNEnv)
	if driver == "" {
		switch {
		case fs.Changed("dsn"):
			driver = DriverMySQL
		case fs.Changed("data"):
			driver = DriverSQLite
		case envDSN != "":
			driver = DriverMySQL
		default:
			driver = DriverSQLite
		}
	}
	c := Config{Driver: driver, Create: create}
	switch driver {
	case DriverSQLite:
		if fs.Changed("dsn") {
			return c, errors.New("--dsn is for --db mysql")
		}
		c.Dir, _ = fs.GetString("data")
	case DriverMySQL:
		if fs.Changed("data") {
			return c, errors.New("--data is for --db sqlite")
		}
		c.DSN = dsn
		if c.DSN == "" {
			c.DSN = envDSN
		}
		if c.DSN == "" {
			return c, fmt.Errorf("--db mysql needs --dsn or the %s environment variable", DSNEnv)
		}
	default:
		return c, fmt.Errorf("--db %q: want sqlite or mysql", driver)
	}
	return c, c.Validate()
}

// OpenFlags opens the database the flags describe and says on log (the
// command's standard error) which one it used; a database that does not
// exist gets a hint at the flags.
func OpenFlags(ctx context.Context, fs *pflag.FlagSet, getenv func(string) string, log io.Writer) (syncstore.Store, Config, error) {
	c, err := FromFlags(fs, getenv)
	if err != nil {
		return nil, c, err
	}
	s, err := Open(ctx, c)
	if errors.Is(err, ErrNoDatabase) {
		hint := "--data names the server's data directory; --create makes a new database"
		if c.DriverName() == DriverMySQL {
			hint = "check --dsn / $" + DSNEnv + "; --create makes the tables"
		}
		return nil, c, fmt.Errorf("%w (%s)", err, hint)
	}
	if err != nil {
		return nil, c, err
	}
	fmt.Fprintf(log, "database: %s\n", c.Label())
	return s, c, nil
}
