package coupa

import (
	"sync"
)

// Stats counts the requests a Client made.
type Stats struct {
	// Requests counts HTTP attempts by table and status (0 = transport error).
	Requests map[string]map[int]int64
	// Throttled counts 429 answers.
	Throttled int64
}

// Total returns the number of HTTP attempts.
func (s Stats) Total() int64 {
	var n int64
	for _, byStatus := range s.Requests {
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

type stats struct {
	mu sync.Mutex
	s  Stats
}

func newStats() *stats { return &stats{s: Stats{Requests: map[string]map[int]int64{}}} }

func (s *stats) add(table string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.s.Requests[table]
	if m == nil {
		m = map[int]int64{}
		s.s.Requests[table] = m
	}
	m[status]++
}

func (s *stats) throttled() {
	s.mu.Lock()
	s.s.Throttled++
	s.mu.Unlock()
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Requests: map[string]map[int]int64{}, Throttled: s.s.Throttled}
	for t, m := range s.s.Requests {
		cp := map[int]int64{}
		for k, v := range m {
			cp[k] = v
		}
		out.Requests[t] = cp
	}
	return out
}
