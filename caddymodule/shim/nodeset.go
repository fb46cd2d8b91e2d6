package shim

import (
	"maps"
	"slices"
	"sync"
)

// nodeSet counts the legacy nodes that the loaded legacy blocks on one
// database configure, so that the admin API can tell a configured node
// from a typo. It is reference counted by name because a config reload
// provisions the new handlers before cleaning up the old ones.
type nodeSet struct {
	mu    sync.Mutex
	count map[string]int
}

// add records names and returns the function that forgets them again.
func (s *nodeSet) add(names []string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == nil {
		s.count = map[string]int{}
	}
	for _, n := range names {
		s.count[n]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, n := range names {
				if s.count[n]--; s.count[n] <= 0 {
					delete(s.count, n)
				}
			}
		})
	}
}

// list returns the configured nodes in name order.
func (s *nodeSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.count))
}
