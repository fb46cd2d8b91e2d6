package migrate

import (
	"fmt"
	"testing"

	"github.com/syncserver/syncserver/migrate/legacytest"
)

// OverQuota measures users the way the native quota counts them, per user
// for small selections and in one aggregate pass for large ones; both
// must agree, on every legacy layout.
func TestOverQuota(t *testing.T) {
	for _, l := range []legacytest.Layout{
		{Variant: legacytest.FSyncMS},
		{Variant: legacytest.Mozilla},
		{Variant: legacytest.Mozilla, Shards: 3},
	} {
		t.Run(l.String(), func(t *testing.T) {
			f := newFixture(t, l, legacytest.Spec{Users: 4, Records: []int{40, 10, 3}, BcryptCost: 4})
			ctx := testContext(t)
			want := map[string]int64{}
			var names []string
			for _, u := range f.users {
				var n int64
				for _, r := range u.Records {
					if r.Payload != nil {
						n += int64(len(*r.Payload))
					}
				}
				lu := &LegacyUser{Name: u.Name}
				want[lu.NativeName()] = n
				names = append(names, u.Name)
			}
			// A quota between the users' sizes, so some are over and some not.
			quota := want[(&LegacyUser{Name: f.users[1].Name}).NativeName()]
			for name, n := range want {
				u, err := f.legacy.LookupUser(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				got, err := f.legacy.PayloadBytes(ctx, u)
				if err != nil || got != n {
					t.Errorf("PayloadBytes(%s) = %d, %v; want %d", name, got, err, n)
				}
			}
			check := func(label string, over []UserBytes) {
				t.Helper()
				got := map[string]int64{}
				for _, u := range over {
					got[u.User] = u.Bytes
				}
				for name, n := range want {
					if (n >= quota) != (got[name] > 0) || (n >= quota && got[name] != n) {
						t.Errorf("%s: %s stores %d, quota %d, listed as %d", label, name, n, quota, got[name])
					}
				}
			}
			perUser, err := OverQuota(ctx, f.legacy, names, quota)
			if err != nil {
				t.Fatal(err)
			}
			check("per user", perUser)
			all, err := OverQuota(ctx, f.legacy, nil, quota)
			if err != nil {
				t.Fatal(err)
			}
			check("aggregate", all)
			if fmt.Sprint(perUser) != fmt.Sprint(all) {
				t.Errorf("per user %v, aggregate %v", perUser, all)
			}
			if none, err := OverQuota(ctx, f.legacy, nil, 0); err != nil || len(none) != 0 {
				t.Errorf("quota 0: %v, %v", none, err)
			}
		})
	}
}
