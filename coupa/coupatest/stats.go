package coupatest

import "sync"

// Stats counts what the simulator answered, so benchmarks can report how
// often the client was throttled or failed.
type Stats struct {
	// Requests counts responses by table name ("invoices"; "token" for the
	// token endpoint; "other" for anything else) and HTTP status.
	Requests map[string]map[int]int64
	// Throttled is the number of 429 answers.
	Throttled int64
	// Tokens is the number of access tokens issued.
	Tokens int64
	// Records is the number of records served in list responses.
	Records int64
}

// Total returns the number of requests to table with the given status
// (status 0: any status).
func (s Stats) Total(table string, status int) int64 {
	var n int64
	for st, c := range s.Requests[table] {
		if status == 0 || st == status {
			n += c
		}
	}
	return n
}

type counters struct {
	mu sync.Mutex
	s  Stats
}

func (c *counters) request(table string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s.Requests == nil {
		c.s.Requests = map[string]map[int]int64{}
	}
	m := c.s.Requests[table]
	if m == nil {
		m = map[int]int64{}
		c.s.Requests[table] = m
	}
	m[status]++
	if status == 429 {
		c.s.Throttled++
	}
}

func (c *counters) add(tokens, records int64) {
	c.mu.Lock()
	c.s.Tokens += tokens
	c.s.Records += records
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.s
	out.Requests = map[string]map[int]int64{}
	for t, m := range c.s.Requests {
		cp := make(map[int]int64, len(m))
		for k, v := range m {
			cp[k] = v
		}
		out.Requests[t] = cp
	}
	return out
}

func (c *counters) reset() {
	c.mu.Lock()
	c.s = Stats{}
	c.mu.Unlock()
}
