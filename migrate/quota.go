package migrate

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// PayloadBytes is what legacy user u stores, counted as the native quota
// counts it: the bytes of every payload.
func (l *LegacyDB) PayloadBytes(ctx context.Context, u *LegacyUser) (int64, error) {
	var (
		q   = "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM " + l.schema.wboTable(u.ID) + " WHERE username = ?"
		arg any
		n   int64
	)
	switch l.schema.Variant {
	case VariantMozilla:
		arg = u.ID
	default:
		arg = u.Name
	}
	if err := l.db.QueryRowContext(ctx, q, arg).Scan(&n); err != nil {
		return 0, fmt.Errorf("measuring legacy user %q: %w", u.Name, err)
	}
	return n, nil
}

// UserBytes is a user and the payload bytes they store.
type UserBytes struct {
	User  string
	Bytes int64
}

// OverQuota returns the users among names (all legacy users when names is
// nil) that store at least quota bytes on the legacy server: once native,
// every upload of theirs would be refused (Weave error 14) until they
// delete data. The legacy PHP servers had no quota, so this is the moment
// to find them. quota <= 0 means no quota: nobody is over it.
func OverQuota(ctx context.Context, lg *LegacyDB, names []string, quota int64) ([]UserBytes, error) {
	if quota <= 0 {
		return nil, nil
	}
	var over []UserBytes
	check := func(u *LegacyUser) error {
		n, err := lg.PayloadBytes(ctx, u)
		if err != nil {
			return err
		}
		if n >= quota {
			over = append(over, UserBytes{User: u.NativeName(), Bytes: n})
		}
		return nil
	}
	if names == nil {
		if err := lg.Users(ctx, check); err != nil {
			return nil, err
		}
		return over, nil
	}
	for _, name := range names {
		u, err := lg.LookupUser(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := check(u); err != nil {
			return nil, err
		}
	}
	return over, nil
}

// WriteOverQuota lists users at or above the quota.
func WriteOverQuota(w io.Writer, over []UserBytes, quota int64) {
	fmt.Fprintf(w, "%d users at or above the native quota of %s (their uploads would fail with error 14 once native):\n", len(over), FormatBytes(quota))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  user\tstored\n")
	for _, u := range over {
		fmt.Fprintf(tw, "  %s\t%s\n", u.User, FormatBytes(u.Bytes))
	}
	tw.Flush()
}
