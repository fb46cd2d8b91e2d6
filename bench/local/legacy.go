package local

// The bench needs a legacy PHP Sync server to compare the shim against,
// on any machine, without PHP: the FSyncMS stand-in that the shim's and
// migrate tool's tests run against is that server, written once; a second
// copy here would drift from it. Only syncserver-benchlocal links it.

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/bench"
	"github.com/syncserver/syncserver/migrate/legacytest"
)

// standInConns is how many idle database connections the stand-in
// keeps: enough for the bench's highest concurrency, so the legacy side
// is not slowed by reconnecting (database/sql keeps 2 by default).
const standInConns = 64

// startStandIn creates a bch_ database with the FSyncMS schema and serves
// the FSyncMS stand-in from it on a loopback port, md5 passwords (as
// installs before 2013; cheap logins, like the native servers' auth
// cache) and registration off, as the data set is seeded in its
// database. It returns the address; Close stops it and drops the
// database.
func (s *Server) startStandIn(ctx context.Context, opts Options) (string, error) {
	cfg, err := s.createDatabase(ctx, opts)
	if err != nil {
		return "", err
	}
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", fmt.Errorf("opening legacy database %s: %w", cfg.DBName, err)
	}
	s.cleanup = append(s.cleanup, db.Close)
	db.SetMaxIdleConns(standInConns)
	layout := legacytest.Layout{Variant: legacytest.FSyncMS}
	if err := legacytest.CreateSchema(ctx, db, layout); err != nil {
		return "", fmt.Errorf("legacy database %s: %w", cfg.DBName, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listening on loopback: %w", err)
	}
	addr := ln.Addr().String()
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	h := legacytest.NewServer(db, legacytest.ServerOptions{Root: "http://" + addr + "/", Logger: logger})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	s.cleanup = append(s.cleanup, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	s.Seeder = &fsyncmsSeeder{db: db, layout: layout}
	return addr, nil
}

// fsyncmsSeeder writes the data set straight into an FSyncMS database,
// rows as FSyncMS stores them (legacytest.Insert): far faster than its
// PHP-paced HTTP API, and the only way in with registration off.
type fsyncmsSeeder struct {
	db     *sql.DB
	layout legacytest.Layout
}

func (s *fsyncmsSeeder) Method() string { return "direct" }

func (s *fsyncmsSeeder) Seed(ctx context.Context, d *bench.Account) (bool, error) {
	sum := md5.Sum([]byte(d.Password()))
	hash := hex.EncodeToString(sum[:])
	users, wbo := "`"+s.layout.UsersTable()+"`", "`"+s.layout.WboTable(0)+"`"
	var stored string
	err := s.db.QueryRowContext(ctx, "SELECT md5 FROM "+users+" WHERE username = ?", d.Name()).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("looking up %s: %w", d.Email(), err)
	case stored != hash:
		return false, fmt.Errorf("account %s (%s) exists with another password; use another --user-prefix", d.Email(), d.Name())
	default:
		counts, err := s.counts(ctx, wbo, d.Name())
		if err != nil {
			return false, fmt.Errorf("counting records of %s: %w", d.Email(), err)
		}
		if d.Complete(counts) {
			return true, nil
		}
		// A partial data set (an interrupted run) is written again whole.
		for _, t := range []string{wbo, users} {
			if _, err := s.db.ExecContext(ctx, "DELETE FROM "+t+" WHERE username = ?", d.Name()); err != nil {
				return false, fmt.Errorf("clearing %s: %w", d.Email(), err)
			}
		}
	}
	// Seeded records are older than anything the workload writes.
	modified := time.Now().UnixMilli()/10 - 100
	u := legacytest.User{Name: d.Name(), Password: d.Password(), PasswordHash: hash}
	d.Batches(bench.DirectBatch, func(collection string, recs []bench.Record) error {
		for _, r := range recs {
			payload := string(r.Payload)
			rec := legacytest.Record{Collection: collection, ID: r.ID, Modified: modified, Payload: &payload}
			if r.SortIndex >= 0 {
				si := int64(r.SortIndex)
				rec.SortIndex = &si
			}
			u.Records = append(u.Records, rec)
		}
		return nil
	})
	if err := legacytest.Insert(ctx, s.db, s.layout, []legacytest.User{u}); err != nil {
		return false, fmt.Errorf("seeding %s: %w", d.Email(), err)
	}
	return false, nil
}

func (s *fsyncmsSeeder) counts(ctx context.Context, wbo, user string) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT collection, COUNT(*) FROM "+wbo+" WHERE username = ? GROUP BY collection", user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		counts[c] = n
	}
	return counts, rows.Err()
}
