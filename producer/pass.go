package producer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coupa-kafka/coupa-kafka/offsets"
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

// commit publishes what batch holds that is not published yet, with the
// cursor the pass reaches once slice s is at its walk's position.
func (ps *passState) commit(ctx context.Context, s *slice, batch []pending) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ts := ps.ts
	if err := ts.halted(); err != nil {
		return err
	}
	var recs []pending
	for _, p := range batch {
		if ok, _ := publishRule(ts.versionFacts(p, ps.fetched)); ok {
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

// cursor is the cursor the pass has reached (see cursorRule). Called with mu
// held.
func (ps *passState) cursor() offsets.Cursor {
	progress := make([]sliceProgress, len(ps.slices))
	for i, s := range ps.slices {
		progress[i] = sliceProgress{committed: s.committed, done: s.done}
	}
	return cursorRule(ps.ts.cursor, progress)
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
	if err := ps.ts.halted(); err != nil {
		return err
	}
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
