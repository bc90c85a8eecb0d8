package producer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// pass brings the table up to date with the instance as of the pass's start.
//
// The pass's first request (firstPage) reads the instance's clock, which
// gives the bound (that clock minus one second), and the first page of data
// from the start position: an incremental pass with less than a page to
// read ends there, one request in all. A longer range is cut into slices of
// about SliceRecords records each, found by probing the page at every
// SliceRecords-th rank; each probed page also starts the walk of the slice
// it bounds, so probes cost little beyond the data. Up to Parallelism
// slices are walked at once, each by keyset (see walk), so one table with a
// long backfill can use the whole request budget.
//
// A pass is a pipeline with one owner of its state:
//
//	generate ──slices──▶ workers (walk, convert) ──batches──▶ committer
//
// The generator (this goroutine) plans the slices and registers each with
// the committer before a worker sees it. The workers read and convert in
// parallel and hand each batch to the committer, which alone commits: it
// owns the transactional producer, the cursor, the published versions and
// every slice's committed position (see committer). Nothing is shared and
// no lock is held across I/O. When the workers are done the committer stops
// and its state passes back to this goroutine, which writes the final
// cursor.
//
// The cursor only moves over a prefix of the range in which every record has
// been committed: the earliest slice not finished yet holds it back. Records
// that later slices committed beyond the cursor are remembered as published
// versions, so after a crash they are recognised (restored from the topic)
// and not published twice.
//
// A failed commit is aborted, its slice rewinds to its last committed
// position and retries with backoff. When ctx ends, each slice commits the
// batch in hand (bounded by CommitTimeout) and pass returns ctx's error.
func (ts *tableSync) pass(ctx context.Context) (PassResult, error) {
	res := PassResult{Table: ts.table.Name, Topic: ts.topic}
	if err := ts.ready(ctx); err != nil {
		return res, err
	}
	start, started := ts.startPosition(), time.Now()
	// Read before the committer starts: from then on it alone touches the
	// cursor.
	refresh := ts.cursor.Mode == offsets.FullRefresh
	bound, first, err := ts.firstPage(ctx, start)
	res.Requests = 1
	if err != nil {
		return ts.result(res, nil), err
	}
	res.InstanceTime = bound
	ts.passBound = bound
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	cm := startCommitter(ctx, ts, ts.cfg.Parallelism+1)
	slices := make(chan *slice)
	workers := ts.cfg.Parallelism
	if refresh || holdsAll(first.page, bound) {
		workers = 1
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	walked := make([][]*slice, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range slices {
				walked[i] = append(walked[i], s)
				if err := ts.walkSlice(ctx, cm, s); err != nil {
					errs[i] = err
					cancel(err)
					for range slices { // drain: the generator stops on ctx
					}
					return
				}
			}
		}()
	}
	gen := &generator{ts: ts, cm: cm, out: slices, start: start, bound: bound, refresh: refresh}
	genErr := gen.run(ctx, first)
	close(slices)
	wg.Wait()
	cm.stop()
	res.Requests += gen.requests
	for _, ws := range walked {
		for _, s := range ws {
			res.Requests += s.w.requests
		}
	}
	if err := firstCause(errs, genErr); err != nil {
		return ts.result(res, cm), err
	}
	if err := cm.close(ctx); err != nil {
		return ts.result(res, cm), err
	}
	watched, requests, err := ts.watchLines(ctx, bound)
	res.Requests += requests
	res = ts.result(res, cm)
	res.Published += watched
	if err != nil {
		return res, err
	}
	ts.cfg.Metrics.passDone(ts.table.Name, started)
	return res, nil
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

// result completes res once the pass's goroutines have ended; cm is nil
// when the pass ended before it started.
func (ts *tableSync) result(res PassResult, cm *committer) PassResult {
	if cm != nil {
		res.Published = cm.published
	}
	res.Cursor = ts.cursor
	return res
}

// slice is one part of a pass, walked by one worker. Its walk's bound is the
// second before the next slice starts (or the pass bound for the last); its
// index is its place in the pass, by which the committer knows it.
type slice struct {
	index int
	w     *walk
}

// pending is a record read from Coupa and converted, ready to publish.
type pending struct {
	id        int64
	updatedAt time.Time
	value     []byte        // Confluent header + Avro
	stats     schemas.Stats // what the conversion could not type
	hash      uint64        // the value's schemas.Table.ContentHash
	fetched   int64         // when it was read, Unix nanoseconds
	lines     []lineValue
	// linesChanged is set on a parent read because its lines changed on
	// their own (see lineWatch): the newest such change.
	linesChanged time.Time
}

// walkSlice walks s to its end, handing the committer one batch at a time
// and waiting for its answer: a failed commit rewinds the walk to the
// slice's last committed position and reads again after a backoff.
func (ts *tableSync) walkSlice(ctx context.Context, cm *committer, s *slice) error {
	retry := newCommitRetry(ts)
	for !s.w.done {
		batch, walkErr := ts.collect(ctx, s.w)
		a := cm.commit(batchRequest{slice: s.index, batch: batch, pos: s.w.pos, done: s.w.done})
		if a.err != nil {
			s.w.pos, s.w.done = a.committed, false
			if a.final {
				return a.err
			}
			if err := retry.after(ctx, a.err, "rewinding to the last committed position", "position", s.w.pos.String()); err != nil {
				return err
			}
			continue
		}
		retry.reset()
		if walkErr != nil {
			return walkErr
		}
	}
	return nil
}

// collect walks until a batch is full, old enough, or the walk ends, and
// converts what it read (in the worker: conversion is the CPU work of a
// pass, and workers do it in parallel). An error from the walk comes back
// with what was read before it, so that progress made is committed before
// the error is reported.
func (ts *tableSync) collect(ctx context.Context, w *walk) ([]pending, error) {
	var batch []pending
	start := time.Now()
	// Kafka records, lines included: what a transaction holds, and what
	// the batch keeps in memory until it is committed.
	records := 0
	for !w.done && records < ts.cfg.BatchRecords && time.Since(start) < ts.cfg.BatchLinger {
		if err := ctx.Err(); err != nil {
			return batch, err
		}
		before, wasDone := w.pos, w.done
		recs, err := w.next(ctx)
		ps, cerr := ts.convertPage(ctx, recs)
		if cerr != nil {
			// The page was read but not converted (the registry did not
			// answer, or the pass was stopped while it learned): the walk
			// goes back to before it, so that the batch commits no cursor
			// past records it does not carry.
			w.pos, w.done = before, wasDone
			return batch, cerr
		}
		for _, p := range ps {
			p.fetched = w.readAt
			batch = append(batch, p)
			records += 1 + len(p.lines)
		}
		if err != nil {
			return batch, err
		}
	}
	return batch, nil
}
