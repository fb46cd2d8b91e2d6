package migrate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// Selection names the users of a run. Everything given is combined.
type Selection struct {
	// Users are names given on the command line.
	Users []string
	// File, if set, is read for more names: one per line, "#" comments.
	File io.Reader
	// Canary selects the users whose syncstore.Bucket is below this percentage
	// (1–100) among all legacy users (migrate) or all native users
	// (rollback).
	Canary int
	// All selects every legacy user (migrate) or every native one
	// (rollback).
	All bool
}

// Empty reports whether nothing was selected.
func (s *Selection) Empty() bool {
	return len(s.Users) == 0 && s.File == nil && s.Canary == 0 && !s.All
}

// ResolveLegacy lists the selected legacy users, normalized, sorted and
// without duplicates. Names from the command line or a file are not
// checked here: an unknown one fails that user with a clear error.
func (s *Selection) ResolveLegacy(ctx context.Context, lg *LegacyDB) ([]string, error) {
	names, err := s.named()
	if err != nil {
		return nil, err
	}
	if s.All || s.Canary > 0 {
		err := lg.Users(ctx, func(u *LegacyUser) error {
			if s.All || syncstore.Bucket(u.Name) < s.Canary {
				names = append(names, u.Name)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return dedupe(names), nil
}

// ResolveNative lists the selected users for a rollback: with All or
// Canary, the users whose route is native.
func (s *Selection) ResolveNative(ctx context.Context, routes syncstore.RouteTable) ([]string, error) {
	names, err := s.named()
	if err != nil {
		return nil, err
	}
	if s.All || s.Canary > 0 {
		after := ""
		for {
			page, err := routes.ListRoutes(ctx, after, 1000)
			if err != nil {
				return nil, err
			}
			for _, r := range page {
				if r.State == syncstore.RouteNative && (s.All || syncstore.Bucket(r.Username) < s.Canary) {
					names = append(names, r.Username)
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Username
		}
	}
	return dedupe(names), nil
}

func (s *Selection) named() ([]string, error) {
	if s.Canary < 0 || s.Canary > 100 {
		return nil, fmt.Errorf("canary percentage %d is outside 1–100", s.Canary)
	}
	names := append([]string(nil), s.Users...)
	if s.File != nil {
		sc := bufio.NewScanner(s.File)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if i := strings.IndexByte(text, '#'); i >= 0 {
				text = strings.TrimSpace(text[:i])
			}
			if text == "" {
				continue
			}
			if strings.ContainsAny(text, " \t,") {
				return nil, fmt.Errorf("user file line %d: %q is not one username", line, text)
			}
			names = append(names, text)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading the user file: %w", err)
		}
	}
	return names, nil
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		k := syncstore.NormalizeUsername(n)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// ErrNothingSelected: a run was given no users.
var ErrNothingSelected = errors.New("no users selected: name users, or use --file, --canary or --all")
