package sqlstore

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// queued waits until n writes wait at the gate.
func (g *writeGate) queued(n int) {
	for {
		g.mu.Lock()
		q := len(g.short) + len(g.long)
		g.mu.Unlock()
		if q == n {
			return
		}
		runtime.Gosched()
	}
}

// TestWriteGateOrder: while one write holds the gate, waiting short
// writes go first in arrival order, a long one is overtaken by at most
// maxOvertakes short ones in a row, and long ones keep arrival order.
func TestWriteGateOrder(t *testing.T) {
	var g writeGate
	ctx := context.Background()
	if err := g.enter(ctx, txLong); err != nil {
		t.Fatal(err)
	}
	arrivals := []struct {
		name string
		size txSize
	}{
		{"L1", txLong}, {"s1", 1}, {"s2", 10}, {"L2", 100}, {"s3", 2}, {"s4", 3}, {"s5", 16}, {"s6", 1},
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i, a := range arrivals {
		wg.Go(func() {
			if err := g.enter(ctx, a.size); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, a.name)
			mu.Unlock()
			g.leave()
		})
		g.queued(i + 1)
	}
	g.leave()
	wg.Wait()
	want := []string{"s1", "s2", "s3", "s4", "L1", "s5", "s6", "L2"}
	if !slices.Equal(order, want) {
		t.Errorf("admitted %v, want %v", order, want)
	}
	if g.busy {
		t.Error("gate still busy with nobody in it")
	}
}

// TestWriteGateCancel: a write whose context ends while it waits leaves
// the queue with the context's error, and the others still get the gate.
func TestWriteGateCancel(t *testing.T) {
	var g writeGate
	if err := g.enter(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.enter(ctx, 1) }()
	g.queued(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	g.queued(0)
	next := make(chan error)
	go func() { next <- g.enter(context.Background(), txLong) }()
	g.queued(1)
	g.leave()
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	g.leave()
	if g.busy {
		t.Error("gate still busy with nobody in it")
	}
}

// TestHoldWrites: while HoldWrites runs its function, a write waits at
// the gate, and goes once the function returned.
func TestHoldWrites(t *testing.T) {
	s := &Store{gate: &writeGate{}}
	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error)
	go func() {
		held <- s.HoldWrites(context.Background(), func() error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	wrote := make(chan error)
	go func() {
		err := s.gate.enter(context.Background(), 1)
		if err == nil {
			s.gate.leave()
		}
		wrote <- err
	}()
	s.gate.queued(1)
	select {
	case err := <-wrote:
		t.Fatalf("a write went through while writes were held: %v", err)
	default:
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	// Without a gate (engines with row locks) fn just runs.
	ran := false
	if err := (&Store{}).HoldWrites(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("HoldWrites without a gate: ran %v, %v", ran, err)
	}
}

// TestHoldWritesGoesBeforeLongWrites: HoldWrites waits as a short write,
// so queued long writes (uploads) do not hold it back: the longer the
// SQLite checkpointer waits for the gate, the more it copies under it.
func TestHoldWritesGoesBeforeLongWrites(t *testing.T) {
	s := &Store{gate: &writeGate{}}
	if err := s.gate.enter(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	done := make(chan error, 2)
	go func() {
		err := s.gate.enter(context.Background(), txLong)
		if err == nil {
			mu.Lock()
			order = append(order, "long write")
			mu.Unlock()
			s.gate.leave()
		}
		done <- err
	}()
	s.gate.queued(1)
	go func() {
		done <- s.HoldWrites(context.Background(), func() error {
			mu.Lock()
			order = append(order, "held")
			mu.Unlock()
			return nil
		})
	}()
	s.gate.queued(2)
	s.gate.leave()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"held", "long write"}; !slices.Equal(order, want) {
		t.Errorf("order through the gate = %v, want %v", order, want)
	}
}
