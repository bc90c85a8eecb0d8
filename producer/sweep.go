package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// Deletes. Coupa has no feed of deletes: a record it deletes (a draft
// invoice, a supplier) simply stops being listed, and polling by updated_at
// never hears of it. So a sweep reconciles ids: it lists the instance's ids
// in id order, a stretch at a time, compares them with the ids the table
// topic holds (published), and reads every id the listing left out on its
// own (Exists). Only a record that answers 404 gets a tombstone; one that
// exists means the listing was not the whole truth (a permission, an admin
// filter), and too many of those abandon the sweep. A false delete is worse
// than a late one: an error, a refused scope, a page that is not a JSON
// array, a listing out of id order stops the step and deletes nothing.
//
// Each step's tombstones (a record's, and its lines') commit with the
// table's cursor, which carries the sweep's progress (offsets.Sweep): a
// crash resumes the sweep after the last stretch it committed. Steps run
// between passes, in the table's goroutine, on the idle share of the
// request budget (the CLI gives the sweep coupa.Client.Idle).

// DefaultDeleteSweepInterval is how long after a table's last sweep the
// next one is due, by default.
const DefaultDeleteSweepInterval = 24 * time.Hour

// DeleteSweep configures the delete sweep.
type DeleteSweep struct {
	// Interval is how long after a table's last sweep ended the next one
	// is due. Zero turns sweeps off (no tombstones for deleted records;
	// lines a parent drops still get theirs).
	Interval time.Duration
	// Coupa lists ids and reads records one by one. The CLI passes the
	// client's Idle view, so that sweeps use only budget the passes leave.
	Coupa Checker
	// Step is how many ids one step lists (Step/50 requests) before it
	// commits. Default 1000.
	Step int
	// MaxExisting is how many records the listing may leave out although
	// they exist before the sweep is abandoned as untrustworthy (nothing
	// more is read one by one; the next sweep is due an interval later).
	// Default 20.
	MaxExisting int
}

// Checker is what a sweep asks of Coupa (coupa.Client implements it).
type Checker interface {
	Lister
	Exists(ctx context.Context, t coupa.Table, id int64) (bool, error)
}

func (d *DeleteSweep) defaults() error {
	switch {
	case d.Interval < 0:
		return errors.New("producer: negative delete sweep interval")
	case d.Interval > 0 && d.Coupa == nil:
		return errors.New("producer: delete sweeps need a Coupa client (DeleteSweep.Coupa)")
	}
	if d.Step <= 0 {
		d.Step = 1000
	}
	if d.MaxExisting <= 0 {
		d.MaxExisting = 20
	}
	return nil
}

// sweeper is the in-memory part of a table's sweep under way; the rest is
// in the cursor. It is rebuilt when a sweep starts or the process restarts.
type sweeper struct {
	// ids are the table topic's ids when the sweep (re)started, ascending.
	// A record published later is not a candidate until the next sweep.
	ids      []int64
	existing int // records the listing left out that exist
}

// sweepDue reports whether ts has a sweep to start or continue at now.
func (ts *tableSync) sweepDue(now time.Time) bool {
	iv := ts.cfg.DeleteSweep.Interval
	if iv <= 0 || ts.published == nil || ts.refreshes() || ts.halted() != nil {
		return false
	}
	sw := ts.cursor.Sweep
	return sw.Running() || !now.Before(sw.Completed.Add(iv))
}

// sweepUntil runs sweep steps while one is due and until deadline passes;
// with a zero deadline, until the sweep ends (Sync). A step begun before
// the deadline is finished.
func (ts *tableSync) sweepUntil(ctx context.Context, deadline time.Time) error {
	for ts.sweepDue(time.Now()) && (deadline.IsZero() || time.Now().Before(deadline)) {
		if err := ts.sweepStep(ctx); err != nil {
			if ctx.Err() == nil {
				ts.cfg.Metrics.sweepEnded(ts.table.Name, "failed")
				ts.log.Warn("delete sweep step failed; it resumes where its last commit left it", "error", err.Error())
			}
			return err
		}
		if deadline.IsZero() && !ts.cursor.Sweep.Running() {
			return nil
		}
	}
	return nil
}

// sweepStep reconciles the next stretch of ids and commits its tombstones
// with the sweep's progress.
func (ts *tableSync) sweepStep(ctx context.Context) error {
	sw := ts.cursor.Sweep
	if !sw.Running() {
		sw = offsets.Sweep{Completed: sw.Completed, Started: time.Now().UTC()}
		ts.sweeping = nil
		ts.log.Info("delete sweep started", "records", ts.published.len())
	}
	if ts.sweeping == nil { // started, or resumed after a restart
		ts.sweeping = &sweeper{ids: ts.published.sortedIDs()}
	}
	listed, end, err := ts.listIDs(ctx, sw.After)
	if err != nil {
		return err
	}
	hi := sw.After
	if len(listed) > 0 {
		hi = listed[len(listed)-1]
	}
	candidates := ts.sweeping.candidates(sw.After, hi, end, listed)
	gone, abandoned, err := ts.confirm(ctx, candidates)
	if err != nil {
		return err
	}
	next := ts.cursor
	next.Sweep = offsets.Sweep{Completed: sw.Completed, Started: sw.Started, After: hi}
	if end || abandoned {
		next.Sweep = offsets.Sweep{Completed: time.Now().UTC()}
	}
	if err := ts.tombstone(ctx, gone, next); err != nil {
		return err
	}
	switch {
	case abandoned:
		ts.sweeping = nil
		ts.cfg.Metrics.sweepEnded(ts.table.Name, "abandoned")
		ts.log.Warn("delete sweep abandoned: the id listing leaves out records that exist (a permission or an admin filter?); nothing it leaves out is deleted on its word",
			"left_out_existing", ts.cfg.DeleteSweep.MaxExisting, "swept_to_id", hi)
	case end:
		ts.sweeping = nil
		ts.cfg.Metrics.sweepEnded(ts.table.Name, "completed")
		ts.cfg.Metrics.sweepCompleted(ts.table.Name, next.Sweep.Completed)
		ts.log.Info("delete sweep completed", "started", sw.Started.Format(time.RFC3339), "records", ts.published.len())
	}
	return nil
}

// listIDs lists the ids after after in ascending order, Step of them at
// most; end means the listing reached the table's last id. A listing that
// is not in strictly ascending id order after after is an error: the
// comparison would take whatever it skipped for deleted.
func (ts *tableSync) listIDs(ctx context.Context, after int64) (ids []int64, end bool, err error) {
	for len(ids) < ts.cfg.DeleteSweep.Step {
		q := coupa.Query{
			Filters: []coupa.Filter{{Attr: "id", Op: coupa.Gt, Value: strconv.FormatInt(after, 10)}},
			OrderBy: "id",
			Fields:  `["id","updated-at"]`,
		}
		page, err := ts.cfg.DeleteSweep.Coupa.List(ctx, ts.table, q)
		if err != nil {
			return nil, false, fmt.Errorf("table %s: listing ids after %d: %w", ts.table.Name, after, err)
		}
		for _, r := range page.Records {
			if r.ID <= after {
				return nil, false, fmt.Errorf("table %s: the id listing after %d returned id %d: not in id order, so it cannot show what was deleted", ts.table.Name, after, r.ID)
			}
			ids, after = append(ids, r.ID), r.ID
		}
		if len(page.Records) < q.PageSize() {
			return ids, true, nil
		}
	}
	return ids, false, nil
}

// candidates returns the ids the topic held at the sweep's start, in
// (lo, hi] (above lo when end), that listed (ascending) does not have.
func (s *sweeper) candidates(lo, hi int64, end bool, listed []int64) []int64 {
	i, _ := slices.BinarySearch(s.ids, lo+1)
	var out []int64
	for _, id := range s.ids[i:] {
		if !end && id > hi {
			break
		}
		if _, found := slices.BinarySearch(listed, id); !found {
			out = append(out, id)
		}
	}
	return out
}

// confirm reads each candidate on its own and returns those that are gone
// (404). abandoned means MaxExisting records the listing left out turned
// out to exist in this sweep: the rest are not read.
func (ts *tableSync) confirm(ctx context.Context, candidates []int64) (gone []int64, abandoned bool, err error) {
	exists := 0
	defer func() { ts.cfg.Metrics.sweepChecked(ts.table.Name, len(gone), exists) }()
	for _, id := range candidates {
		if !ts.published.has(id) {
			continue // tombstoned since the sweep started
		}
		ok, err := ts.cfg.DeleteSweep.Coupa.Exists(ctx, ts.table, id)
		if err != nil {
			return nil, false, fmt.Errorf("table %s: confirming that record %d is deleted: %w", ts.table.Name, id, err)
		}
		if !ok {
			gone = append(gone, id)
			continue
		}
		exists++
		ts.sweeping.existing++
		ts.log.Debug("delete sweep: the listing left out a record that exists", "id", id)
		if ts.sweeping.existing >= ts.cfg.DeleteSweep.MaxExisting {
			return gone, true, nil
		}
	}
	return gone, false, nil
}

// tombstone commits a tombstone for each id in gone, and for the lines of
// its last published version, with the cursor next.
func (ts *tableSync) tombstone(ctx context.Context, gone []int64, next offsets.Cursor) error {
	if err := ts.halted(); err != nil {
		return err
	}
	now := time.Now().UTC()
	instance := []byte(ts.key.Instance)
	headers := tableHeaders(instance, []byte(ts.table.Name))
	var lineHeaders []kgo.RecordHeader
	if ts.lines != nil {
		lineHeaders = tableHeaders(instance, []byte(ts.table.LineTopic))
	}
	var out []*kgo.Record
	lines := 0
	for _, id := range gone {
		out = append(out, &kgo.Record{Topic: ts.topic, Key: strconv.AppendInt(nil, id, 10), Timestamp: now, Headers: headers})
		if ts.lines != nil {
			ids := ts.published.lines(id)
			out = ts.lines.tombstones(out, ids, now, lineHeaders)
			lines += len(ids)
		}
	}
	written, err := ts.commit(ctx, out, next)
	if err != nil {
		return err
	}
	removed := make(map[int64]bool, len(gone))
	for _, id := range gone {
		ts.published.remove(id)
		removed[id] = true
		delete(ts.values, id)
	}
	if len(removed) > 0 {
		ts.seen.forget(removed)
		ts.log.Info("tombstoned records deleted in Coupa", "records", len(gone), "lines", lines)
	}
	ts.committed(nil, written)
	ts.cfg.Metrics.tombstoned(ts.table.Name, len(gone))
	if ts.lines != nil {
		ts.cfg.Metrics.tombstoned(ts.table.LineTopic, lines)
	}
	return nil
}
