package producer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Slice planning: where a pass's slices begin, found by probing ranks.

// probeFirst reads the instance clock and the first slice boundary in one
// request: the updated_at of the record SliceRecords places after start.
func (ts *tableSync) probeFirst(ctx context.Context, start position) (bound, boundary time.Time, err error) {
	page, err := ts.cfg.Coupa.List(ctx, ts.table, probeQuery(start, time.Time{}, ts.cfg.SliceRecords))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("table %s: reading the instance clock: %w", ts.table.Name, err)
	}
	if page.Date.IsZero() {
		return time.Time{}, time.Time{}, fmt.Errorf("table %s: the instance sent no Date header; its clock is needed to bound a pass safely", ts.table.Name)
	}
	bound = page.Date.Add(-time.Second)
	if len(page.Records) > 0 && page.Records[0].UpdatedAt.After(start.at) && !page.Records[0].UpdatedAt.After(bound) {
		boundary = page.Records[0].UpdatedAt
	}
	return bound, boundary, nil
}

// probeQuery asks for the record at rank offset from start in updated_at
// order. Deep offsets are unsafe for reading data from a changing set, but a
// boundary only needs to be roughly right: any boundary is correct.
func probeQuery(start position, bound time.Time, offset int) coupa.Query {
	q := coupa.Query{OrderBy: "updated_at", Limit: 1, Offset: offset, Fields: `["id","updated-at"]`}
	if !start.at.IsZero() {
		q.Filters = append(q.Filters, coupa.Filter{Attr: "updated_at", Op: coupa.GtOrEq, Value: coupa.FormatTime(start.at)})
	}
	if !bound.IsZero() {
		q.Filters = append(q.Filters, coupa.Filter{Attr: "updated_at", Op: coupa.LtOrEq, Value: coupa.FormatTime(bound)})
	}
	return q
}

// generator plans a pass's slices: it cuts [start, bound] at boundaries
// probed in waves of Parallelism concurrent requests, registers each slice
// with the committer and hands it to a worker, in order.
type generator struct {
	ts       *tableSync
	cm       *committer
	out      chan<- *slice
	start    position
	bound    time.Time
	refresh  bool // a full refresh: one slice, read in order
	from     position
	next     int // index of the next slice
	requests int // probes sent
}

// run emits the slices, the first ending before first (the boundary
// probeFirst found; zero for a single slice).
func (g *generator) run(ctx context.Context, first time.Time) error {
	g.from = g.start
	if first.IsZero() || g.refresh {
		return g.emit(ctx, time.Time{})
	}
	if err := g.emit(ctx, first); err != nil {
		return err
	}
	n := g.ts.cfg.Parallelism
	for k := 2; ; k += n {
		found, err := g.probeWave(ctx, k)
		if err != nil {
			return err
		}
		for _, b := range found {
			if b.After(g.from.at) {
				if err := g.emit(ctx, b); err != nil {
					return err
				}
			}
		}
		if len(found) < n {
			return g.emit(ctx, time.Time{})
		}
	}
}

// emit hands out the slice from g.from to the second before to (to the
// bound when to is zero).
func (g *generator) emit(ctx context.Context, to time.Time) error {
	wb := g.bound
	if !to.IsZero() {
		wb = to.Add(-time.Second)
	}
	s := &slice{index: g.next, w: &walk{list: g.ts.cfg.Coupa, table: g.ts.table, bound: wb, pos: g.from}}
	g.cm.add(g.from)
	g.next++
	select {
	case g.out <- s:
		g.from = position{at: to}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// probeWave probes ranks k..k+Parallelism-1 (times SliceRecords) at once and
// returns the boundaries found, in order, up to the first rank past the end.
func (g *generator) probeWave(ctx context.Context, k int) ([]time.Time, error) {
	ts, n := g.ts, g.ts.cfg.Parallelism
	got := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, err := ts.cfg.Coupa.List(ctx, ts.table, probeQuery(g.start, g.bound, (k+i)*ts.cfg.SliceRecords))
			if err == nil && len(page.Records) > 0 {
				got[i] = page.Records[0].UpdatedAt
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	g.requests += n
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("table %s: probing slice boundaries: %w", ts.table.Name, err)
	}
	var out []time.Time
	for _, t := range got {
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out, nil
}
