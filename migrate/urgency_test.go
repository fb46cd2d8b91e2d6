package migrate

import (
	"context"
	"errors"
	"testing"
)

// TestUrgencyYield: without urgent work every bulk batch goes at once;
// with some, one batch at a time; a waiting batch gives up with its
// context.
func TestUrgencyYield(t *testing.T) {
	var u urgency
	ctx := context.Background()
	r1, err := u.yield(ctx)
	if err != nil {
		t.Fatalf("yield with no urgent work: %v", err)
	}
	r2, err := u.yield(ctx)
	if err != nil {
		t.Fatalf("a second batch with no urgent work: %v", err)
	}
	r1()
	r2()

	end := u.begin()
	first, err := u.yield(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	stop := errors.New("stopped")
	cancel(stop)
	if _, err := u.yield(cctx); !errors.Is(err, stop) {
		t.Fatalf("a second batch during urgent work with an ended context: %v, want %v", err, stop)
	}
	got := make(chan error, 1)
	go func() {
		release, err := u.yield(ctx)
		if err == nil {
			release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second batch went (%v) while the first held the lane", err)
	default:
	}
	first()
	if err := <-got; err != nil {
		t.Fatalf("the second batch after the first: %v", err)
	}
	end()
	end() // a second call does nothing
	r, err := u.yield(cctx)
	if err != nil {
		t.Fatalf("yield after the urgent work ended: %v", err)
	}
	r()
}
