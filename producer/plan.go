package producer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Slice planning: where a pass's slices begin, found by probing ranks.

// firstPage reads the pass's first page: the answer to its first slice's
// first query, asked without an upper bound because the bound comes from
// this very answer's Date header (the instance's clock). So one request
// tells the clock and, on an incremental pass with less than a page to
// read, all of it: an idle pass costs one request.
func (ts *tableSync) firstPage(ctx context.Context, start position) (bound time.Time, first *readPage, err error) {
	q := coupa.Query{OrderBy: "updated_at"}
	if !start.at.IsZero() {
		q.Filters = []coupa.Filter{{Attr: "updated_at", Op: coupa.GtOrEq, Value: coupa.FormatTime(start.at)}}
	}
	page, err := ts.cfg.Coupa.List(ctx, ts.table, q)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("table %s: reading the instance clock: %w", ts.table.Name, err)
	}
	first = &readPage{page: page, at: time.Now().UnixNano()}
	if page.Date.IsZero() {
		return time.Time{}, nil, fmt.Errorf("table %s: the instance sent no Date header; its clock is needed to bound a pass safely", ts.table.Name)
	}
	return page.Date.Add(-time.Second), first, nil
}

// holdsAll reports whether a page asked from the pass's start without an
// upper bound holds every record up to bound: it is short, or it ends past
// the bound (see walk.next).
func holdsAll(p coupa.Page, bound time.Time) bool {
	if len(p.Records) < coupa.MaxLimit {
		return true
	}
	for _, r := range p.Records {
		if r.UpdatedAt.After(bound) {
			return true
		}
	}
	return false
}

// probeQuery asks for the page at rank offset from start in updated_at
// order, within the bound. Deep offsets are unsafe for reading data from a
// changing set, so a ranked page is used only for what one answer proves
// (see rankedPage); its first record gives a slice boundary, and any
// boundary is correct.
func probeQuery(start position, bound time.Time, offset int) coupa.Query {
	q := coupa.Query{OrderBy: "updated_at", Offset: offset}
	if !start.at.IsZero() {
		q.Filters = append(q.Filters, coupa.Filter{Attr: "updated_at", Op: coupa.GtOrEq, Value: coupa.FormatTime(start.at)})
	}
	q.Filters = append(q.Filters, coupa.Filter{Attr: "updated_at", Op: coupa.LtOrEq, Value: coupa.FormatTime(bound)})
	return q
}

// rankedPage is a probed page and the slice boundary it gives: the second
// after its oldest record. Every record with an updated_at from that second
// up to (not including) the page's newest one ranks inside the page (all
// older ones rank before its first record, all newer ones after its last),
// so the page is also the start of that slice's walk.
type rankedPage struct {
	*readPage
	boundary time.Time
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

// run emits the slices. The first begins with first, the pass's first
// page; when that page holds the whole pass, or the pass is a full refresh
// (read in order), it is the only one. Otherwise ranks are probed
// Parallelism at a time, each probed page starting the slice it bounds;
// the first wave is rank SliceRecords alone unless the first page's density
// says the range holds several slices (most incremental passes end after
// that one probe).
func (g *generator) run(ctx context.Context, first *readPage) error {
	g.from = g.start
	if g.refresh || holdsAll(first.page, g.bound) {
		return g.emit(ctx, time.Time{}, first)
	}
	n := 1
	if estimate(first.page, g.start, g.bound) > 2*g.ts.cfg.SliceRecords {
		n = g.ts.cfg.Parallelism // a backfill: no round trip for one probe first
	}
	for k := 1; ; k, n = k+n, g.ts.cfg.Parallelism {
		found, err := g.probeRanks(ctx, k, n)
		if err != nil {
			return err
		}
		for _, p := range found {
			if p.boundary.After(g.from.at) && !p.boundary.After(g.bound) {
				if err := g.emit(ctx, p.boundary, first); err != nil {
					return err
				}
				first = p.readPage
			}
		}
		if len(found) < n {
			return g.emit(ctx, time.Time{}, first)
		}
	}
}

// emit hands out the slice from g.from to the second before to (to the
// bound when to is zero). first, when set, is the answer to its walk's
// first query.
func (g *generator) emit(ctx context.Context, to time.Time, first *readPage) error {
	wb := g.bound
	if !to.IsZero() {
		wb = to.Add(-time.Second)
	}
	s := &slice{index: g.next, w: &walk{list: g.ts.cfg.Coupa, table: g.ts.table, bound: wb, pos: g.from, first: first, holdBack: g.refresh}}
	reading := time.Now().UnixNano()
	if first != nil {
		reading = first.at // its records were read then (see pruneFetched)
	}
	g.cm.add(g.from, reading)
	g.next++
	select {
	case g.out <- s:
		g.from = position{at: to}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// probeRanks probes ranks k..k+n-1 (times SliceRecords) at once and
// returns the pages found, in order, up to the first rank past the end.
func (g *generator) probeRanks(ctx context.Context, k, n int) ([]rankedPage, error) {
	ts := g.ts
	got := make([]rankedPage, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, err := ts.cfg.Coupa.List(ctx, ts.table, probeQuery(g.start, g.bound, (k+i)*ts.cfg.SliceRecords))
			if err == nil && len(page.Records) > 0 {
				recs := sortRecords(page.Records)
				got[i] = rankedPage{&readPage{page: page, at: time.Now().UnixNano(), ranked: true}, recs[0].UpdatedAt.Add(time.Second)}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	g.requests += n
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("table %s: probing slice boundaries: %w", ts.table.Name, err)
	}
	var out []rankedPage
	for _, p := range got {
		if p.readPage == nil {
			break
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].boundary.Before(out[j].boundary) })
	return out, nil
}

// estimate is roughly how many records [start, bound] holds, judged from
// the density of a full first page (for planning only: any answer is
// correct, a good one saves a round trip).
func estimate(p coupa.Page, start position, bound time.Time) int {
	recs := sortRecords(slices.Clone(p.Records))
	if len(recs) == 0 {
		return 0
	}
	from := start.at
	if from.IsZero() || recs[0].UpdatedAt.After(from) {
		from = recs[0].UpdatedAt
	}
	span := recs[len(recs)-1].UpdatedAt.Sub(from)
	if span <= 0 {
		return math.MaxInt32 // one second holds the page: dense
	}
	return int(float64(len(recs)) * float64(bound.Sub(from)) / float64(span))
}
