package syncstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

type fakeRoutes []Route

func (f fakeRoutes) ListRoutes(_ context.Context, after string, limit int) ([]Route, error) {
	var out []Route
	for _, r := range f {
		if r.Username > after && (limit <= 0 || len(out) < limit) {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestReadRouteStatus(t *testing.T) {
	now := time.Now()
	var rows fakeRoutes
	// More than a page, so paging is exercised.
	for i := range 1500 {
		rows = append(rows, Route{Username: fmt.Sprintf("n%04d", i), State: RouteNative})
	}
	rows = append(rows,
		Route{Username: "x1", State: RouteMigrating, Owner: "run", LeaseExpires: now.Add(time.Minute), Origin: RouteLegacy},
		Route{Username: "x2", State: RouteMigrating, Owner: "dead", LeaseExpires: now.Add(-time.Minute), Origin: RouteLegacy, LastError: "boom", Updated: now},
	)
	st, err := ReadRouteStatus(context.Background(), rows, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.States[RouteNative] != 1500 || st.States[RouteMigrating] != 1 || st.States[RouteLegacy] != 1 || st.Held != 1 || st.Stale != 1 {
		t.Errorf("status %+v", st)
	}
	var out bytes.Buffer
	st.Write(&out, 5)
	for _, want := range []string{"native     1500", "leases held: 1, expired (recovered by the next run): 1", "x2", "boom"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
