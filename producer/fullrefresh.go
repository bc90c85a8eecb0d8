package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// Full refresh. Some catalog tables cannot be read by updated_at: their
// records have none (currencies) or one that does not move with every change
// (budget lines). A full refresh (coupa.FullRefresh) reads such a table whole,
// Step records at a time in id order (keyset on id: a record changed during
// the read keeps its place, so none is skipped), and publishes only records
// whose value differs from the one the topic holds (tableSync.values, rebuilt
// from the topic at restore): a refresh of an unchanged table publishes
// nothing. The ids the listing leaves out are the table's deletes, confirmed
// one by one as a delete sweep confirms them (a full refresh is its table's
// delete sweep; tables in this mode run no other).
//
// Progress rides in the cursor's Sweep, committed with each step's records:
// Started and After while a refresh is under way (a crash resumes after the
// last committed step), Completed when the last one ended. The next is due
// the table's poll interval after that. A record without updated_at is
// published with the refresh's start, to the second, as its timestamp (and
// HeaderUpdatedAt).

// refreshes reports whether ts is a full refresh table.
func (ts *tableSync) refreshes() bool { return ts.table.Mode == coupa.FullRefresh }

// refreshDue reports whether a refresh is under way or due at now, every
// interval. A reset to a full refresh (`cursors reset --full-refresh`) makes
// one due at once.
func (ts *tableSync) refreshDue(now time.Time, interval time.Duration) bool {
	sw := ts.cursor.Sweep
	return sw.Running() || ts.cursor.Mode == offsets.FullRefresh || !now.Before(sw.Completed.Add(interval))
}

// nextRefresh is the pause after a refresh: until the next is due, or,
// after a failure, no longer than DefaultPollMax (the refresh resumes where
// its last commit left it, and an hour's wait would leave it half done).
func (ts *tableSync) nextRefresh(interval time.Duration, err error) time.Duration {
	if err != nil {
		return min(interval, DefaultPollMax)
	}
	return max(0, time.Until(ts.cursor.Sweep.Completed.Add(interval)))
}

// refresh runs a full refresh of ts to its end (resuming one under way) and
// returns what it published. It is ts's pass: Sync runs one every time, Run
// when refreshDue.
func (ts *tableSync) refresh(ctx context.Context) (PassResult, error) {
	res := PassResult{Table: ts.table.Name, Topic: ts.topic}
	if err := ts.ready(ctx); err != nil {
		return res, err
	}
	started := time.Now()
	for {
		published, requests, done, err := ts.refreshStep(ctx)
		res.Published += published
		res.Requests += requests
		res.Cursor = ts.cursor
		if err != nil {
			return res, err
		}
		if done {
			break
		}
	}
	res.InstanceTime = ts.cursor.Sweep.Completed
	ts.cfg.Metrics.passDone(ts.table.Name, started)
	ts.cfg.Metrics.sweepCompleted(ts.table.Name, ts.cursor.Sweep.Completed)
	return res, nil
}

// refreshStep reads the next Step records after the refresh's position,
// tombstones the ids it confirms deleted, and commits the changed records
// with the new position. done means the listing reached the table's end.
func (ts *tableSync) refreshStep(ctx context.Context) (published, requests int, done bool, err error) {
	if err := ts.halted(); err != nil {
		return 0, 0, false, err
	}
	sw := ts.cursor.Sweep
	republish := ts.cursor.Mode == offsets.FullRefresh
	if !sw.Running() {
		sw = offsets.Sweep{Completed: sw.Completed, Started: time.Now().UTC()}
		ts.sweeping = nil
		ts.log.Info("full refresh started", "republish", republish)
	}
	if ts.sweeping == nil && ts.published != nil && ts.cfg.DeleteSweep.Interval > 0 {
		ts.sweeping = &sweeper{ids: ts.published.sortedIDs()}
	}
	recs, end, requests, err := ts.listAfter(ctx, sw.After)
	if err != nil {
		return 0, requests, false, err
	}
	hi := sw.After
	if len(recs) > 0 {
		hi = recs[len(recs)-1].ID
	}
	if err := ts.refreshDeletes(ctx, sw.After, hi, end, recs); err != nil {
		return 0, requests, false, err
	}
	changed, err := ts.changedValues(ctx, recs, sw.Started, republish)
	if err != nil {
		return 0, requests, false, err
	}
	next := ts.cursor
	next.Sweep = offsets.Sweep{Completed: sw.Completed, Started: sw.Started, After: hi}
	if end {
		next.Sweep = offsets.Sweep{Completed: time.Now().UTC()}
		next.Mode = offsets.Incremental
	}
	written, err := ts.publish(ctx, changed, next)
	if err != nil {
		return 0, requests, false, err
	}
	ts.committed(changed, written)
	if end {
		ts.sweeping = nil
		ts.log.Info("full refresh completed", "started", sw.Started.Format(time.RFC3339), "records", len(ts.values))
	}
	return len(changed), requests, end, nil
}

// listAfter lists the records after id after in ascending id order, Step
// of them at most, with every field; end means the listing reached the
// table's last id. A listing out of id order is an error, as for a sweep:
// what it skipped would be taken for deleted.
func (ts *tableSync) listAfter(ctx context.Context, after int64) (recs []coupa.Record, end bool, requests int, err error) {
	for len(recs) < ts.cfg.DeleteSweep.Step {
		q := coupa.Query{
			Filters: []coupa.Filter{{Attr: "id", Op: coupa.Gt, Value: strconv.FormatInt(after, 10)}},
			OrderBy: "id",
		}
		page, err := ts.cfg.Coupa.List(ctx, ts.table, q)
		requests++
		if err != nil {
			return nil, false, requests, fmt.Errorf("table %s: full refresh: listing after id %d: %w", ts.table.Name, after, err)
		}
		for _, r := range page.Records {
			if r.ID <= after {
				return nil, false, requests, fmt.Errorf("table %s: full refresh: the listing after id %d returned id %d: not in id order", ts.table.Name, after, r.ID)
			}
			recs, after = append(recs, r), r.ID
		}
		if len(page.Records) < q.PageSize() {
			return recs, true, requests, nil
		}
	}
	return recs, false, requests, nil
}

// changedValues converts recs and returns those whose value the topic does
// not hold yet (all of them when republish). A record without updated_at is
// stamped with the refresh's start.
func (ts *tableSync) changedValues(ctx context.Context, recs []coupa.Record, started time.Time, republish bool) ([]pending, error) {
	ps, err := ts.convertPage(ctx, recs)
	if err != nil {
		return nil, err
	}
	var out []pending
	for _, p := range ps {
		if !republish && ts.values.has(p.id, p.hash) {
			continue
		}
		if p.updatedAt.IsZero() {
			// Second precision, as Coupa's own updated_at: the header
			// (RFC 3339, seconds) and the timestamp then agree.
			p.updatedAt = started.Truncate(time.Second)
		}
		out = append(out, p)
	}
	return out, nil
}

// refreshDeletes tombstones the ids in (lo, hi] (above lo when end) that the
// topic held when the refresh started, that recs (the listing) left out,
// and that Coupa confirms gone, with the cursor as it is: a crash after
// them repeats the step, which finds them tombstoned. Nothing is tombstoned
// with delete sweeps off, or after the listing proved untrustworthy
// (MaxExisting).
func (ts *tableSync) refreshDeletes(ctx context.Context, lo, hi int64, end bool, recs []coupa.Record) error {
	if ts.sweeping == nil || ts.sweeping.existing >= ts.cfg.DeleteSweep.MaxExisting {
		return nil
	}
	listed := make([]int64, len(recs))
	for i, r := range recs {
		listed[i] = r.ID
	}
	gone, abandoned, err := ts.confirm(ctx, ts.sweeping.candidates(lo, hi, end, listed))
	if err != nil {
		return err
	}
	if abandoned {
		ts.log.Warn("full refresh: the listing leaves out records that exist (a permission or an admin filter?); it tombstones nothing more this refresh")
	}
	if len(gone) == 0 {
		return nil
	}
	return ts.tombstone(ctx, gone, ts.cursor)
}
