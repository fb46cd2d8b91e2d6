package mysqlstore

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestServerGoneAndBack cuts the store off its server: calls fail with
// plain errors (the HTTP layer answers 503), never with a sentinel that
// means something to the protocol, and work again once the server is back,
// without reopening the store.
func TestServerGoneAndBack(t *testing.T) {
	dsn, p := testservices.MySQLViaProxy(t, freshDatabase(t))
	logs, observed := observer.New(zap.WarnLevel)
	s := openStore(t, Config{DSN: dsn, Logger: zap.New(logs)})
	defer s.Close()

	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	put := func() error {
		_, err := s.PutRecords(ctx, u.ID, "bookmarks", []syncstore.WBO{{ID: "a", Payload: ptr("x")}}, syncstore.WriteOptions{})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}

	p.Stop()
	sentinels := []error{syncstore.ErrNotFound, syncstore.ErrUserExists, syncstore.ErrModified, syncstore.ErrOverQuota}
	calls := map[string]func() error{
		"PutRecords": put,
		"GetRecord": func() error {
			_, err := s.GetRecord(ctx, u.ID, "bookmarks", "a")
			return err
		},
		"LookupUser": func() error {
			_, err := s.LookupUser(ctx, "alice")
			return err
		},
		"CollectionTimestamps": func() error {
			_, err := s.CollectionTimestamps(ctx, u.ID)
			return err
		},
		"GetRecords of a new collection": func() error {
			_, err := s.GetRecords(ctx, u.ID, "not-cached", &syncstore.Query{})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s succeeded with the server gone", name)
			continue
		}
		for _, sentinel := range sentinels {
			if errors.Is(err, sentinel) {
				t.Errorf("%s with the server gone: %v, which reads as %v", name, err, sentinel)
			}
		}
	}

	p.Start()
	for name, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s after the server came back: %v", name, err)
		}
	}
	w, err := s.GetRecord(ctx, u.ID, "bookmarks", "a")
	if err != nil || w.Payload == nil || *w.Payload != "x" {
		t.Errorf("record after the outage = %+v, %v", w, err)
	}
	// The pool found its idle connections dead; the driver says so through
	// the configured logger, not on standard error.
	if observed.FilterMessage("mysql driver").Len() == 0 {
		t.Errorf("no driver messages reached the zap logger; got %v", observed.All())
	}
}
