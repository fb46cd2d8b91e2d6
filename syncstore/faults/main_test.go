package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// Environment of a child server: the test binary re-executed with
// childDriver set serves the sync protocol over one store until killed.
const (
	childDriver = "HRD_CHILD_DRIVER" // "sqlite" or "mysql"
	childDir    = "HRD_CHILD_DIR"    // SQLite directory
	childDSN    = "HRD_CHILD_DSN"    // MySQL DSN
)

func TestMain(m *testing.M) {
	if os.Getenv(childDriver) != "" {
		if err := serveChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild opens the store named by the environment, prints
// "listening <addr>" on standard output and serves until it is killed.
func serveChild() error {
	store, err := openStore(os.Getenv(childDriver), os.Getenv(childDir), os.Getenv(childDSN))
	if err != nil {
		return err
	}
	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost})
	if err != nil {
		return err
	}
	h, err := httpapi.New(httpapi.Config{Store: store, Auth: auth, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", l.Addr())
	return http.Serve(l, h)
}

// openStore opens a store the way the child and the checks after a kill
// both do.
func openStore(driver, dir, dsn string) (syncstore.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch driver {
	case "sqlite":
		return sqlitestore.Open(ctx, sqlitestore.Config{Dir: dir})
	case "mysql":
		return mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn})
	}
	return nil, fmt.Errorf("unknown driver %q", driver)
}
