package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// A Seeder puts an account's data set in place: over HTTP (the default),
// straight into a native store (--direct), or into a legacy server's
// database (syncserver-benchlocal's stand-ins).
type Seeder interface {
	// Seed creates the account if needed and writes its data set unless
	// it is already complete (reused).
	Seed(ctx context.Context, a *Account) (reused bool, err error)
	// Method names the way in the report: "http" or "direct".
	Method() string
}

// seedAll seeds users with conc goroutines; done counts finished users for
// the progress line.
func seedAll(ctx context.Context, s Seeder, users []*Account, conc int, done *atomic.Int64) (reused int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan *Account)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range max(conc, 1) {
		wg.Go(func() {
			for d := range next {
				r, err := s.Seed(ctx, d)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if r {
					reused++
				}
				mu.Unlock()
				done.Add(1)
			}
		})
	}
	for _, d := range users {
		select {
		case next <- d:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return reused, firstErr
}

// httpSeeder seeds through the User and Storage APIs, so it works against
// any Sync 1.1 server: register, PUT meta/global and crypto/keys, POST the
// client records and the engine records in batches of 100.
type httpSeeder struct {
	client *syncClient
	legacy bool // the target is declared legacy: its quirks are tolerated
}

func (s *httpSeeder) Method() string { return "http" }

func (s *httpSeeder) Seed(ctx context.Context, d *Account) (bool, error) {
	var buf bytes.Buffer
	id := &d.id
	r := s.client.do(ctx, http.MethodGet, s.client.userURL(id, ""), nil, nil, nil, &buf)
	if err := wantStatus(&r, 200); err != nil {
		return false, fmt.Errorf("checking account %s: %w", id.Email, err)
	}
	switch strings.TrimSpace(string(r.body)) {
	case "1":
		r = s.client.do(ctx, http.MethodGet, s.client.storageURL(id, "info/collection_counts"), id, nil, nil, &buf)
		if r.err == nil && r.status == http.StatusUnauthorized {
			return false, fmt.Errorf("account %s (%s) exists with another password; use another --user-prefix", id.Email, id.Name)
		}
		if err := wantStatus(&r, 200); err != nil {
			return false, fmt.Errorf("reading counts of %s: %w", id.Email, err)
		}
		var counts map[string]int64
		if s.legacy && isEmptyArray(r.body) {
			counts = map[string]int64{} // PHP's empty object
		} else if err := json.Unmarshal(r.body, &counts); err != nil {
			return false, fmt.Errorf("reading counts of %s: %w", id.Email, err)
		}
		if d.Complete(counts) {
			return true, nil
		}
	case "0":
		body, _ := json.Marshal(map[string]string{"email": id.Email, "password": id.Password})
		r = s.client.do(ctx, http.MethodPut, s.client.userURL(id, ""), nil, body, nil, &buf)
		if err := wantStatus(&r, 200); err != nil {
			return false, fmt.Errorf("registering %s: %w", id.Email, err)
		}
	default:
		return false, fmt.Errorf("checking account %s: answer %.50q is neither 0 nor 1", id.Email, r.body)
	}

	var b batchBuilder
	return false, d.Batches(maxPostRecords, func(collection string, recs []Record) error {
		return s.post(ctx, id, collection, recs, &b, &buf)
	})
}

func (s *httpSeeder) post(ctx context.Context, id *identity, collection string, recs []Record, b *batchBuilder, buf *bytes.Buffer) error {
	b.reset()
	for _, rec := range recs {
		b.addRaw(rec.ID, rec.Payload, rec.SortIndex)
	}
	r := s.client.do(ctx, http.MethodPost, s.client.storageURL(id, "storage/"+collection), id, b.finish(), nil, buf)
	r.legacy = s.legacy
	res, _, _, f := parsePost(&r)
	if f != nil {
		return fmt.Errorf("seeding %s of %s: %w", collection, id.Email, f)
	}
	if len(res.Success) != len(recs) || len(res.Failed) != 0 {
		return fmt.Errorf("seeding %s of %s: %d of %d records stored, failed: %v", collection, id.Email, len(res.Success), len(recs), res.Failed)
	}
	return nil
}

func wantStatus(r *response, status int) error {
	if r.err != nil {
		return r.err
	}
	if r.status != status {
		return fmt.Errorf("status %d: %.200q", r.status, r.body)
	}
	return nil
}
