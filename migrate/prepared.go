package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// prepared holds the legacy readers' per-user scans (every record of a
// user, every fingerprint) prepared once per query text. A prepared
// statement answers in MySQL's binary protocol, in which the server sends
// numbers and DOUBLEs as they are stored instead of formatting each as
// text for the client to parse again: measured on MariaDB 10.11, a quarter
// of the server's CPU for the bulk read of a 6,000-record user. database/sql
// prepares each statement again on every connection that runs it. Queries
// whose shape varies (id lists) stay interpolated text: one round trip.
type prepared struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// query runs q, prepared on first use.
func (p *prepared) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.mu.Lock()
	st, ok := p.m[q]
	if !ok {
		var err error
		if st, err = p.db.PrepareContext(ctx, q); err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("preparing a legacy query: %w", err)
		}
		if p.m == nil {
			p.m = map[string]*sql.Stmt{}
		}
		p.m[q] = st
	}
	p.mu.Unlock()
	return st.QueryContext(ctx, args...)
}

// close releases the statements; the pool stays open.
func (p *prepared) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, st := range p.m {
		errs = append(errs, st.Close())
	}
	p.m = nil
	return errors.Join(errs...)
}
