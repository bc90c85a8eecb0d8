package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// tableSync owns one table: its transactional producer, committed cursor and
// the versions published inside the lookback window. Only its goroutine
// touches it while a pass runs.
type tableSync struct {
	cfg      *Config
	table    coupa.Table
	key      offsets.Key
	topic    string
	schema   *schemas.Table
	schemaID int
	txn      *txnProducer
	log      *slog.Logger

	cursor offsets.Cursor // committed: never ahead of what Kafka holds
	seen   *seen
}

// PassResult summarises one pass over one table.
type PassResult struct {
	Table     string
	Topic     string
	Published int
	Requests  int
	Cursor    offsets.Cursor
	// InstanceTime is the bound of the pass: the instance's clock when the
	// pass began, minus one second.
	InstanceTime time.Time
}

// pass brings the table up to date with the instance as of the pass's start.
//
// Records are published in batches, each in one transaction together with
// the cursor it reaches; the in-memory cursor moves only after a commit. A
// failed commit is aborted, the walk rewinds to the last committed position
// and retries with backoff. When ctx ends, the batch in hand is committed
// (bounded by ShutdownTimeout) and pass returns ctx's error.
func (ts *tableSync) pass(ctx context.Context) (PassResult, error) {
	res := PassResult{Table: ts.table.Name, Topic: ts.topic}
	bound, err := ts.instanceBound(ctx)
	if err != nil {
		return res, err
	}
	res.InstanceTime = bound
	w := &walk{list: ts.cfg.Coupa, table: ts.table, bound: bound, pos: ts.startPosition()}
	committedPos := w.pos
	prog := newProgress(ts.log, ts.cfg.ProgressEvery)
	retry := newRetryBackoff()
	failures := 0
	for !w.done {
		batch, next, walkErr := ts.collect(ctx, w)
		if len(batch) == 0 && !next.After(ts.cursor) && next.Mode == ts.cursor.Mode {
			committedPos = w.pos // nothing to write; the walk moved over covered records only
			if walkErr != nil {
				return ts.finish(res, w, walkErr)
			}
			continue
		}
		n, extra, err := ts.publish(ctx, batch, next)
		if err != nil {
			var (
				fenced *FencedError
				dead   *crashed
			)
			if errors.As(err, &fenced) || errors.As(err, &dead) || ctx.Err() != nil {
				return ts.finish(res, w, err)
			}
			ts.cfg.Metrics.aborted(ts.table.Name)
			if failures++; failures >= ts.cfg.MaxCommitAttempts {
				return ts.finish(res, w, fmt.Errorf("table %s: giving up after %d failed transactions: %w", ts.table.Name, failures, err))
			}
			wait := retry.NextBackOff()
			ts.log.Warn("transaction failed; rewinding to the last committed cursor", "cursor", ts.cursor.String(), "retry_in", wait.Round(time.Millisecond), "error", err.Error())
			w.pos, w.done = committedPos, false
			if serr := sleep(ctx, wait); serr != nil {
				return ts.finish(res, w, serr)
			}
			continue
		}
		retry.Reset()
		failures = 0
		committedPos = w.pos
		ts.committed(batch, next)
		ts.cfg.Metrics.committed(ts.table.Name, n, extra)
		res.Published += n
		prog.update(res.Published, ts.cursor)
		if walkErr != nil {
			return ts.finish(res, w, walkErr)
		}
	}
	ts.cfg.Metrics.passDone(ts.table.Name, bound, ts.cursor.UpdatedAt)
	return ts.finish(res, w, nil)
}

func (ts *tableSync) finish(res PassResult, w *walk, err error) (PassResult, error) {
	res.Requests = w.requests
	res.Cursor = ts.cursor
	return res, err
}

// instanceBound asks the instance for its clock (the Date header of a cheap
// list call) and returns one second before it: the current second may still
// gain records, so it is left to the next pass.
func (ts *tableSync) instanceBound(ctx context.Context) (time.Time, error) {
	page, err := ts.cfg.Coupa.List(ctx, ts.table, coupa.Query{
		Filters: []coupa.Filter{{Attr: "id", Value: "0"}},
		Limit:   1,
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("table %s: reading the instance clock: %w", ts.table.Name, err)
	}
	if page.Date.IsZero() {
		return time.Time{}, fmt.Errorf("table %s: the instance sent no Date header; its clock is needed to bound a pass safely", ts.table.Name)
	}
	return page.Date.Add(-time.Second), nil
}

// startPosition is where a pass begins: a full refresh resumes exactly at
// its cursor; an incremental pass starts Lookback before the cursor, so that
// versions which became visible late are found (versions already published
// are recognised by ts.seen and skipped).
func (ts *tableSync) startPosition() position {
	c := ts.cursor
	switch {
	case c.Mode == offsets.FullRefresh:
		return position{at: c.UpdatedAt, id: c.ID}
	case c.IsZero():
		return position{}
	default:
		return position{at: c.UpdatedAt.Add(-ts.cfg.Lookback)}
	}
}

// collect walks until a batch is full, old enough, or the walk ends, and
// returns the records to publish and the cursor after them. An error from
// the walk comes back with what was collected before it, so that progress
// made is committed before the error is reported.
func (ts *tableSync) collect(ctx context.Context, w *walk) ([]coupa.Record, offsets.Cursor, error) {
	next := ts.cursor
	var batch []coupa.Record
	start := time.Now()
	for !w.done && len(batch) < ts.cfg.BatchRecords && time.Since(start) < ts.cfg.BatchLinger {
		if ctx.Err() != nil {
			return batch, next, ctx.Err()
		}
		recs, err := w.next(ctx)
		for _, r := range recs {
			if ts.shouldPublish(r) {
				batch = append(batch, r)
			}
		}
		if p := (offsets.Cursor{UpdatedAt: w.pos.at, ID: w.pos.id}); p.After(next) {
			next.UpdatedAt, next.ID = p.UpdatedAt, p.ID
		}
		if err != nil {
			return batch, next, err
		}
	}
	if w.done && next.Mode == offsets.FullRefresh {
		next.Mode = offsets.Incremental
	}
	return batch, next, nil
}

// shouldPublish: in a full refresh, everything past the cursor; otherwise
// every version not already published (the lookback re-reads some).
func (ts *tableSync) shouldPublish(r coupa.Record) bool {
	if ts.cursor.Mode == offsets.FullRefresh {
		return !ts.cursor.Covers(r.UpdatedAt, r.ID)
	}
	return !ts.seen.has(r.ID, r.UpdatedAt)
}

// publish converts batch and commits it with the cursor next in one
// transaction. It returns the records published and the values kept in extra.
func (ts *tableSync) publish(ctx context.Context, batch []coupa.Record, next offsets.Cursor) (int, int, error) {
	next.Published = ts.cursor.Published + int64(len(batch))
	next.CommittedAt = time.Now().UTC()
	recs := make([]*kgo.Record, 0, len(batch)+1)
	extra := 0
	var header sr.ConfluentHeader
	for _, r := range batch {
		v, err := header.AppendEncode(make([]byte, 0, len(r.Raw)), ts.schemaID, nil)
		if err != nil {
			return 0, 0, err
		}
		v, n, err := ts.schema.Append(v, r.Raw)
		if err != nil {
			// The client only hands over objects with an id and a valid
			// updated-at, which the converter always accepts: this is a bug,
			// and skipping the record would lose it.
			return 0, 0, fmt.Errorf("table %s: converting record %d: %w", ts.table.Name, r.ID, err)
		}
		extra += n
		recs = append(recs, &kgo.Record{
			Topic:     ts.topic,
			Key:       strconv.AppendInt(nil, r.ID, 10),
			Value:     v,
			Timestamp: r.UpdatedAt,
		})
	}
	cur, err := offsets.Record(ts.cfg.OffsetsTopic, ts.key, next)
	if err != nil {
		return 0, 0, err
	}
	recs = append(recs, cur)
	// A commit is allowed to finish after ctx ends (graceful shutdown), but
	// not to hang: ShutdownTimeout bounds it.
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
			return 0, 0, err
		}
	}
	if err := ts.txn.commit(cctx, recs, hook); err != nil {
		return 0, 0, err
	}
	return len(batch), extra, nil
}

// committed moves the in-memory state after a successful commit.
func (ts *tableSync) committed(batch []coupa.Record, next offsets.Cursor) {
	next.Published = ts.cursor.Published + int64(len(batch))
	ts.cursor = next
	for _, r := range batch {
		ts.seen.add(r.ID, r.UpdatedAt)
	}
	if !next.UpdatedAt.IsZero() {
		ts.seen.forgetBefore(next.UpdatedAt.Add(-ts.cfg.Lookback))
	}
	ts.cfg.Metrics.cursor(ts.table.Name, next.UpdatedAt)
}

func newRetryBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 30 * time.Second
	return b
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// progress logs a line every so often during long passes (backfills).
type progress struct {
	log   *slog.Logger
	every time.Duration
	start time.Time
	last  time.Time
}

func newProgress(log *slog.Logger, every time.Duration) *progress {
	now := time.Now()
	return &progress{log: log, every: every, start: now, last: now}
}

func (p *progress) update(published int, c offsets.Cursor) {
	if p.every <= 0 || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	rate := float64(published) / time.Since(p.start).Seconds()
	p.log.Info("progress", "published", published, "records_per_second", int(rate), "position", c.String())
}
