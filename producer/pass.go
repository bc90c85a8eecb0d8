package producer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// pass brings the table up to date with the instance as of the pass's start.
//
// The range to read, from the start position up to the bound (the instance's
// clock minus one second), is cut into slices of about SliceRecords records
// each, found by probing the rank of every SliceRecords-th record. Up to
// Parallelism slices are walked at once, each by keyset (see walk), so one
// table with a long backfill can use the whole request budget; an
// incremental pass with little to read is a single slice.
//
// Records are published in batches, each in one transaction together with
// the cursor, and commits are serialised. The cursor only moves over a prefix
// of the range in which every record has been committed: the earliest slice
// not finished yet holds it back. Records that later slices committed beyond
// the cursor are remembered as published versions, so after a crash they are
// recognised (restored from the topic) and not published twice.
//
// A failed commit is aborted, its slice rewinds to its last committed
// position and retries with backoff. When ctx ends, each slice commits the
// batch in hand (bounded by CommitTimeout) and pass returns ctx's error.
func (ts *tableSync) pass(ctx context.Context) (PassResult, error) {
	res := PassResult{Table: ts.table.Name, Topic: ts.topic}
	if ts.stopped != nil {
		return res, ts.stopped
	}
	if ts.stale {
		if err := ts.reload(ctx); err != nil {
			return res, err
		}
	}
	ps := &passState{ts: ts, prog: newProgress(ts.log, ts.cfg.ProgressEvery), fetched: map[int64]int64{}}
	start, started := ts.startPosition(), time.Now()
	bound, first, err := ts.probeFirst(ctx, start)
	ps.requests++
	if err != nil {
		return ts.result(res, ps), err
	}
	res.InstanceTime = bound
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slices := make(chan *slice)
	var wg sync.WaitGroup
	workers := ts.cfg.Parallelism
	if first.IsZero() || ts.cursor.Mode == offsets.FullRefresh {
		workers = 1
	}
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range slices {
				if err := ps.run(ctx, s); err != nil {
					errs[i] = err
					cancel(err)
					for range slices { // drain: the generator stops on ctx
					}
					return
				}
			}
		}()
	}
	genErr := ps.generate(ctx, slices, start, bound, first)
	close(slices)
	wg.Wait()
	if err := firstCause(errs, genErr); err != nil {
		return ts.result(res, ps), err
	}
	if err := ps.close(ctx); err != nil {
		return ts.result(res, ps), err
	}
	ts.cfg.Metrics.passDone(ts.table.Name, started)
	return ts.result(res, ps), nil
}

// firstCause returns the error that stopped the pass (a worker's, else the
// generator's), unwrapped from the cancellation it caused elsewhere.
func firstCause(errs []error, genErr error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if genErr != nil && !errors.Is(genErr, context.Canceled) {
		return genErr
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return genErr
}

func (ts *tableSync) result(res PassResult, ps *passState) PassResult {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	res.Published = ps.published
	res.Requests = ps.requests
	for _, s := range ps.slices {
		res.Requests += s.w.requests
	}
	res.Cursor = ts.cursor
	return res
}

// slice is one part of a pass, walked on its own. Its walk's bound is the
// second before the next slice starts (or the pass bound for the last).
type slice struct {
	w *walk
	// committed is the walk position after the slice's last commit: where a
	// failed transaction rewinds to, and how far the slice counts towards
	// the cursor.
	committed position
	done      bool
	// reading is when the slice began reading its uncommitted batch (Unix
	// ns, 0 between batches): versions published before every slice's
	// reading began can no longer be overwritten by a stale read.
	reading atomic.Int64
}

// pending is a record read from Coupa and converted, ready to publish.
type pending struct {
	id        int64
	updatedAt time.Time
	value     []byte // Confluent header + Avro
	extra     int    // values kept in the extra map
	hash      uint64 // valueHash(value)
	fetched   int64  // when it was read, Unix nanoseconds
}

// passState is what the slices of one pass share; mu guards it and
// serialises commits.
type passState struct {
	ts   *tableSync
	prog *progress

	mu     sync.Mutex
	slices []*slice
	// fetched maps an id published in this pass to when the published
	// version was read. Slices read concurrently, so an older version of a
	// record can reach its commit after a newer one (the record changed and
	// moved to a later slice in between); the version read later is the
	// newer one, and an earlier read never overwrites it.
	fetched   map[int64]int64
	pruned    int // len(fetched) after the last prune
	published int
	requests  int
}

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

// run walks one slice to its end, committing batch by batch.
func (ps *passState) run(ctx context.Context, s *slice) error {
	retry := ps.newCommitRetry()
	for !s.w.done {
		s.reading.Store(time.Now().UnixNano())
		batch, walkErr := ps.collect(ctx, s.w)
		if err := ps.commit(ctx, s, batch); err != nil {
			ps.mu.Lock()
			s.w.pos, s.w.done = s.committed, false
			ps.mu.Unlock()
			if err := retry.after(ctx, err, "rewinding to the last committed position", "position", s.w.pos.String()); err != nil {
				return err
			}
			continue
		}
		retry.reset()
		if walkErr != nil {
			return walkErr
		}
	}
	ps.mu.Lock()
	s.done = true
	s.reading.Store(0)
	ps.mu.Unlock()
	return nil
}

// commitRetry paces the retries of failed transactions of one slice (or of
// the pass's final cursor).
type commitRetry struct {
	ps       *passState
	backoff  *backoff.ExponentialBackOff
	failures int
}

func (ps *passState) newCommitRetry() *commitRetry {
	return &commitRetry{ps: ps, backoff: newRetryBackoff()}
}

func (r *commitRetry) reset() {
	r.backoff.Reset()
	r.failures = 0
}

// after decides what follows the failed transaction err: nil after waiting
// the backoff, when it is worth trying again; otherwise the error that ends
// the pass (a fence, a stopped table, shutdown, too many failures in a row).
func (r *commitRetry) after(ctx context.Context, err error, what string, logArgs ...any) error {
	var (
		fenced *FencedError
		dead   *crashed
	)
	ts := r.ps.ts
	r.ps.mu.Lock() // settle, in another slice's commit, may set them
	halted := ts.stopped != nil || ts.stale
	r.ps.mu.Unlock()
	if errors.As(err, &fenced) || errors.As(err, &dead) || halted || ctx.Err() != nil {
		return err
	}
	ts.cfg.Metrics.aborted(ts.table.Name)
	if r.failures++; r.failures >= ts.cfg.MaxCommitAttempts {
		return fmt.Errorf("table %s: giving up after %d failed transactions: %w", ts.table.Name, r.failures, err)
	}
	wait := r.backoff.NextBackOff()
	ts.log.Warn("transaction failed; "+what, append(logArgs, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())...)
	return sleep(ctx, wait)
}

// collect walks until a batch is full, old enough, or the walk ends, and
// converts what it read (in the slice's goroutine: conversion is the CPU
// work of a pass, and slices do it in parallel). An error from the walk comes
// back with what was read before it, so that progress made is committed
// before the error is reported.
func (ps *passState) collect(ctx context.Context, w *walk) ([]pending, error) {
	var batch []pending
	start := time.Now()
	for !w.done && len(batch) < ps.ts.cfg.BatchRecords && time.Since(start) < ps.ts.cfg.BatchLinger {
		if err := ctx.Err(); err != nil {
			return batch, err
		}
		recs, err := w.next(ctx)
		now := time.Now().UnixNano()
		for _, r := range recs {
			p, cerr := ps.ts.convert(r)
			if cerr != nil {
				return batch, cerr
			}
			p.fetched = now
			batch = append(batch, p)
		}
		if err != nil {
			return batch, err
		}
	}
	return batch, nil
}

// convert turns a Coupa record into its Kafka value.
func (ts *tableSync) convert(r coupa.Record) (pending, error) {
	v := schemas.AppendHeader(make([]byte, 0, len(r.Raw)/2), ts.schemaID)
	v, extra, err := ts.schema.Append(v, r.Raw)
	if err != nil {
		// The client only hands over objects with an id and a valid
		// updated-at, which the converter always accepts: this is a bug, and
		// skipping the record would lose it.
		return pending{}, fmt.Errorf("table %s: converting record %d: %w", ts.table.Name, r.ID, err)
	}
	return pending{id: r.ID, updatedAt: r.UpdatedAt, value: v, extra: extra, hash: valueHash(v)}, nil
}

// commit publishes what batch holds that is not published yet, with the
// cursor the pass reaches once slice s is at its walk's position.
func (ps *passState) commit(ctx context.Context, s *slice, batch []pending) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ts := ps.ts
	var recs []pending
	for _, p := range batch {
		if ts.shouldPublish(p) && p.fetched >= ps.fetched[p.id] {
			recs = append(recs, p)
		}
	}
	before := s.committed
	s.committed = s.w.pos
	next := ps.cursor()
	if len(recs) == 0 && !next.After(ts.cursor) {
		return nil // nothing to write: the walk moved over published records only
	}
	written, err := ts.publish(ctx, recs, next)
	if err != nil {
		s.committed = before
		return err
	}
	ts.committed(recs, written)
	for _, r := range recs {
		ps.fetched[r.id] = r.fetched
	}
	ps.pruneFetched()
	ps.published += len(recs)
	ps.prog.update(ps.published, ts.cursor)
	return nil
}

// pruneFetched forgets versions read before every slice's current batch
// began: no read still in flight is older, so none can be blocked by them.
// This keeps the map to the records of the last few batches, not the pass.
// Called with mu held.
func (ps *passState) pruneFetched() {
	if len(ps.fetched) < 2*ps.pruned+4*ps.ts.cfg.BatchRecords {
		return
	}
	oldest := time.Now().UnixNano()
	for _, s := range ps.slices {
		if r := s.reading.Load(); r != 0 && r < oldest {
			oldest = r
		}
	}
	for id, f := range ps.fetched {
		if f < oldest {
			delete(ps.fetched, id)
		}
	}
	ps.pruned = len(ps.fetched)
}

// cursor is the committed cursor moved over the finished prefix of the pass:
// up to the committed position of the earliest slice not finished yet. It
// never moves back (a pass starting in the lookback window is behind it).
// Called with mu held.
func (ps *passState) cursor() offsets.Cursor {
	next := ps.ts.cursor
	var pos position
	for _, s := range ps.slices {
		pos = s.committed
		if !s.done {
			break
		}
	}
	if p := (offsets.Cursor{UpdatedAt: pos.at, ID: pos.id}); p.After(next) {
		next.UpdatedAt, next.ID = p.UpdatedAt, p.ID
	}
	return next
}

// close writes the final cursor when the last commits left it behind (a
// slice that ended without records to publish) and ends a full refresh.
func (ps *passState) close(ctx context.Context) error {
	retry := ps.newCommitRetry()
	for {
		err := ps.closeOnce(ctx)
		if err == nil {
			return nil
		}
		if err := retry.after(ctx, err, "writing the final cursor again"); err != nil {
			return err
		}
	}
}

func (ps *passState) closeOnce(ctx context.Context) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	next := ps.cursor()
	next.Mode = offsets.Incremental
	if !next.After(ps.ts.cursor) && next.Mode == ps.ts.cursor.Mode {
		return nil
	}
	written, err := ps.ts.publish(ctx, nil, next)
	if err != nil {
		return err
	}
	ps.ts.committed(nil, written)
	return nil
}

// shouldPublish: in a full refresh, everything past the cursor; otherwise
// every version not already published with the same content (the lookback
// re-reads some; parallel slices may have published ahead of the cursor).
func (ts *tableSync) shouldPublish(p pending) bool {
	if ts.cursor.Mode == offsets.FullRefresh {
		return !ts.cursor.Covers(p.updatedAt, p.id)
	}
	return !ts.seen.has(p.id, p.updatedAt, p.hash)
}

// publish commits recs with the cursor next in one transaction and returns
// the cursor as written. A commit whose answer was lost is settled before
// publish returns (see settle): nil means the batch is committed, an error
// that it is not (or that the table must stop).
func (ts *tableSync) publish(ctx context.Context, recs []pending, next offsets.Cursor) (offsets.Cursor, error) {
	next.Published = ts.cursor.Published + int64(len(recs))
	next.CommittedAt = time.Now().UTC()
	next.Seq = ts.cursor.Seq + 1
	out := make([]*kgo.Record, 0, len(recs)+1)
	extra := 0
	for _, r := range recs {
		extra += r.extra
		out = append(out, &kgo.Record{
			Topic:     ts.topic,
			Key:       strconv.AppendInt(nil, r.id, 10),
			Value:     r.value,
			Timestamp: r.updatedAt,
		})
	}
	cur, err := offsets.Record(ts.cfg.OffsetsTopic, ts.key, next)
	if err != nil {
		return offsets.Cursor{}, err
	}
	out = append(out, cur)
	if err := ts.transact(ctx, out); err != nil {
		var doubt *InDoubtError
		if !errors.As(err, &doubt) {
			return offsets.Cursor{}, err
		}
		if err := ts.settle(ctx, next, doubt); err != nil {
			return offsets.Cursor{}, err
		}
	}
	ts.cfg.Metrics.committed(ts.table.Name, len(recs), extra)
	return next, nil
}

// transact runs one transaction of out. A commit may finish after ctx ends
// (graceful shutdown), but not hang: CommitTimeout bounds it.
func (ts *tableSync) transact(ctx context.Context, out []*kgo.Record) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ts.cfg.CommitTimeout)
	defer cancel()
	hook := func(step string) error {
		if ts.cfg.testHook != nil {
			return ts.cfg.testHook(ts.table.Name, step)
		}
		return nil
	}
	if ts.txn.cl == nil {
		if err := ts.txn.connect(cctx); err != nil {
			return err
		}
	}
	return ts.txn.commit(cctx, out, hook)
}

// committed moves the in-memory state after a successful commit of recs
// that wrote the cursor written.
func (ts *tableSync) committed(recs []pending, written offsets.Cursor) {
	ts.cursor = written
	for _, r := range recs {
		ts.seen.add(r.id, r.updatedAt, r.hash)
	}
	if !written.UpdatedAt.IsZero() {
		ts.seen.forgetBefore(written.UpdatedAt.Add(-ts.cfg.Lookback))
	}
	ts.cfg.Metrics.cursor(ts.table.Name, written.UpdatedAt)
}
