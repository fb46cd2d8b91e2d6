package migrate

import (
	"context"
	"errors"
	"testing"
)

// TestUrgencyYield: a bulk copy's yield returns at once when no user is
// in a window, waits while one is, and gives up with its context.
func TestUrgencyYield(t *testing.T) {
	var u urgency
	ctx := context.Background()
	if err := u.yield(ctx); err != nil {
		t.Fatalf("yield with no urgent work: %v", err)
	}
	end1, end2 := u.begin(), u.begin()
	done := make(chan error, 1)
	go func() { done <- u.yield(ctx) }()
	end1()
	end1() // a second call does nothing: end2 still holds
	select {
	case err := <-done:
		t.Fatalf("yield returned (%v) while urgent work remained", err)
	default:
	}
	end2()
	if err := <-done; err != nil {
		t.Fatalf("yield after the urgent work ended: %v", err)
	}
	if err := u.yield(ctx); err != nil {
		t.Fatalf("yield after everything ended: %v", err)
	}

	end := u.begin()
	defer end()
	cctx, cancel := context.WithCancelCause(ctx)
	stop := errors.New("stopped")
	cancel(stop)
	if err := u.yield(cctx); !errors.Is(err, stop) {
		t.Fatalf("yield with an ended context: %v, want %v", err, stop)
	}
}
