package producer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
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

// generate cuts [start, bound] into slices and hands them out in order.
// Boundaries are probed in waves of Parallelism concurrent requests.
func (ps *passState) generate(ctx context.Context, out chan<- *slice, start position, bound, first time.Time) error {
	from := start
	emit := func(to time.Time) error {
		wb := bound
		if !to.IsZero() {
			wb = to.Add(-time.Second)
		}
		s := &slice{w: &walk{list: ps.ts.cfg.Coupa, table: ps.ts.table, bound: wb, pos: from}, committed: from}
		ps.mu.Lock()
		ps.slices = append(ps.slices, s)
		ps.mu.Unlock()
		select {
		case out <- s:
			from = position{at: to}
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if first.IsZero() || ps.ts.cursor.Mode == offsets.FullRefresh {
		return emit(time.Time{})
	}
	if err := emit(first); err != nil {
		return err
	}
	for k := 2; ; k += ps.ts.cfg.Parallelism {
		found, err := ps.probeWave(ctx, start, bound, k)
		if err != nil {
			return err
		}
		for _, b := range found {
			if b.After(from.at) {
				if err := emit(b); err != nil {
					return err
				}
			}
		}
		if len(found) < ps.ts.cfg.Parallelism {
			return emit(time.Time{})
		}
	}
}

// probeWave probes ranks k..k+Parallelism-1 (times SliceRecords) at once and
// returns the boundaries found, in order, up to the first rank past the end.
func (ps *passState) probeWave(ctx context.Context, start position, bound time.Time, k int) ([]time.Time, error) {
	n := ps.ts.cfg.Parallelism
	got := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, err := ps.ts.cfg.Coupa.List(ctx, ps.ts.table, probeQuery(start, bound, (k+i)*ps.ts.cfg.SliceRecords))
			if err == nil && len(page.Records) > 0 {
				got[i] = page.Records[0].UpdatedAt
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	ps.mu.Lock()
	ps.requests += n
	ps.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("table %s: probing slice boundaries: %w", ps.ts.table.Name, err)
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
