package main

import (
	"fmt"
	"sort"
	"sync"

	"github.com/coupa-kafka/coupa-kafka/producer"
)

// failedPassesNotReady is how many passes of a table must fail in a row
// before the process reports itself not ready: one failure is often a
// passing hiccup that the next pass absorbs; three are not.
const failedPassesNotReady = 3

// tableHealth follows each table's passes for /readyz. A process whose
// tables cannot sync (bad credentials, a missing scope, a stopped table)
// must not look ready: before this, `run` answered 200 forever while every
// pass failed.
type tableHealth struct {
	mu     sync.Mutex
	tables map[string]*passRecord
}

type passRecord struct {
	failures int    // failed passes in a row
	lastErr  string // the last failure's reason
	stopped  bool
}

func newTableHealth() *tableHealth { return &tableHealth{tables: map[string]*passRecord{}} }

// record notes the outcome of one pass.
func (h *tableHealth) record(r producer.PassResult, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := h.tables[r.Table]
	if rec == nil {
		rec = &passRecord{}
		h.tables[r.Table] = rec
	}
	if err == nil {
		*rec = passRecord{}
		return
	}
	rec.failures++
	rec.lastErr = oneLine(err)
	rec.stopped = rec.stopped || r.Stopped
}

// problems lists, sorted by table, why tables keep the process from being
// ready; none means ready.
func (h *tableHealth) problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for table, rec := range h.tables {
		switch {
		case rec.stopped:
			out = append(out, fmt.Sprintf("%s: stopped: %s", table, rec.lastErr))
		case rec.failures >= failedPassesNotReady:
			out = append(out, fmt.Sprintf("%s: the last %d passes failed: %s", table, rec.failures, rec.lastErr))
		}
	}
	sort.Strings(out)
	return out
}
