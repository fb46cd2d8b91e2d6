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

	// Scanned is set by the Resolve methods: how many users --all or
	// --canary chose from, for a message when a canary selects nobody.
	Scanned int
	// named are the users given by name, as typed and as accounts.
	named []syncstore.Account
}

// Empty reports whether nothing was selected.
func (s *Selection) Empty() bool {
	return len(s.Users) == 0 && s.File == nil && s.Canary == 0 && !s.All
}

// ResolveLegacy lists the selected legacy users, normalized, sorted and
// without duplicates. A name is an e-mail address or a Sync username
// (syncstore.ParseAccount); whether named users exist is CheckLegacy's
// question.
func (s *Selection) ResolveLegacy(ctx context.Context, lg *LegacyDB) ([]string, error) {
	names, err := s.parseNamed()
	if err != nil {
		return nil, err
	}
	s.Scanned = 0
	if s.All || s.Canary > 0 {
		err := lg.Users(ctx, func(u *LegacyUser) error {
			s.Scanned++
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
	names, err := s.parseNamed()
	if err != nil {
		return nil, err
	}
	s.Scanned = 0
	if s.All || s.Canary > 0 {
		err := syncstore.EachRoute(ctx, routes, func(r *syncstore.Route) error {
			if r.State == syncstore.RouteNative {
				s.Scanned++
				if s.All || syncstore.Bucket(r.Username) < s.Canary {
					names = append(names, r.Username)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return dedupe(names), nil
}

// parseNamed reads the named users (command line, then file) into
// s.named and returns their usernames.
func (s *Selection) parseNamed() ([]string, error) {
	typed, err := s.typedNames()
	if err != nil {
		return nil, err
	}
	s.named = s.named[:0]
	names := make([]string, 0, len(typed))
	var bad []string
	for _, t := range typed {
		a, err := syncstore.ParseAccount(t)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		s.named = append(s.named, a)
		names = append(names, a.Name)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return names, nil
}

func (s *Selection) typedNames() ([]string, error) {
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

// NothingSelected explains an empty selection after resolving it: a
// canary or --all that found nobody says so plainly.
func (s *Selection) NothingSelected(what string) error {
	switch {
	case s.Canary > 0:
		return fmt.Errorf("canary %d%% selected no users out of %d %s", s.Canary, s.Scanned, what)
	case s.All:
		return fmt.Errorf("--all selected no users: there are no %s", what)
	}
	return ErrNothingSelected
}

// userFinder looks up native accounts.
type userFinder interface {
	LookupUser(ctx context.Context, name string) (*syncstore.User, error)
}

// CheckLegacy fails, naming them as typed, if any named user is not in
// the legacy database: a typo must not read as "nothing to do".
func (s *Selection) CheckLegacy(ctx context.Context, lg *LegacyDB) error {
	return s.checkNamed("not in the legacy database", func(name string) (bool, error) {
		_, err := lg.LookupUser(ctx, name)
		if errors.Is(err, ErrUnknownUser) {
			return false, nil
		}
		return err == nil, err
	})
}

// CheckNative fails, naming them as typed, if any named user has neither a
// native account nor a route row: a rollback of nobody must not read as
// "already legacy".
func (s *Selection) CheckNative(ctx context.Context, users userFinder, routes syncstore.RouteTable) error {
	return s.checkAccountOrRow(ctx, users, routes, "neither a native account nor a route row")
}

// checkAccountOrRow fails, naming them as typed and saying lacking, if
// any named user has neither an account in users nor a route row.
func (s *Selection) checkAccountOrRow(ctx context.Context, users userFinder, routes syncstore.RouteTable, lacking string) error {
	return s.checkNamed(lacking, func(name string) (bool, error) {
		_, err := users.LookupUser(ctx, name)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, syncstore.ErrNotFound) {
			return false, fmt.Errorf("looking up %s: %w", name, err)
		}
		_, err = routes.GetRoute(ctx, name)
		if errors.Is(err, syncstore.ErrNoRoute) {
			return false, nil
		}
		return err == nil, err
	})
}

// ErrUnknownUsers: named users that match nobody.
var ErrUnknownUsers = errors.New("unknown users")

func (s *Selection) checkNamed(why string, exists func(name string) (bool, error)) error {
	var missing []string
	seen := map[string]bool{}
	for _, a := range s.named {
		if seen[a.Name] {
			continue
		}
		seen[a.Name] = true
		ok, err := exists(a.Name)
		if err != nil {
			return err
		}
		if !ok {
			label := strings.TrimSpace(a.Typed)
			if a.Email != "" {
				label += " (Sync username " + a.Name + ")"
			}
			missing = append(missing, label)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	noun := "user"
	if len(missing) > 1 {
		noun = "users"
	}
	return fmt.Errorf("%w: no %s %s: %s", ErrUnknownUsers, noun, strings.Join(missing, ", "), why)
}
