package producer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Lister is the part of the Coupa client a walk needs.
type Lister interface {
	List(ctx context.Context, t coupa.Table, q coupa.Query) (coupa.Page, error)
}

// position is a point in Coupa's (updated_at, id) order. A walk at position
// (at, id) has returned every record at or before it.
//
// tieDone additionally says that every record with updated_at == at has been
// returned, so the next query may ask for updated_at > at. It is known only
// right after a tie was drained by id, and is not persisted: a restarted walk
// asks for updated_at >= at and skips what the position covers.
type position struct {
	at      time.Time
	id      int64
	tieDone bool
}

// String is for logs.
func (p position) String() string {
	if p.at.IsZero() {
		return "earliest"
	}
	return fmt.Sprintf("%s id %d", p.at.UTC().Format(time.RFC3339), p.id)
}

func (p position) covers(at time.Time, id int64) bool {
	return at.Before(p.at) || (at.Equal(p.at) && (p.tieDone || id <= p.id))
}

// walk pages through one table in (updated_at, id) order from a position up
// to a bound, by keyset, never by deep offsets.
//
// Why no record is skipped. Coupa sorts by one attribute only, and orders
// records that share an updated_at (ties; second precision makes them
// common, bulk edits make them hundreds long) differently from one request to
// the next. So each step asks for
//
//	updated_at >= P.at (or > P.at once the tie at P.at is drained), updated_at <= bound,
//	order_by=updated_at, limit 50
//
// and reasons only about what that one answer proves:
//
//  1. A page with fewer than 50 records holds every matching record: the walk
//     is complete up to the bound.
//  2. A full page whose newest updated_at is M, with older records in it,
//     holds every matching record older than M: the answer is the first 50
//     in updated_at order, and every record older than M sorts before the
//     records at M that it does contain. Those older records are returned;
//     the records at M are held back (their tie may continue past the page),
//     and the position becomes (M, 0): "all before M".
//  3. A full page whose records all share one updated_at T is a tie at least
//     a page long. It is drained with updated_at pinned to T (gt_or_eq and
//     lt_or_eq both T), ordered by id, with id > the last id seen: a keyset
//     over a total order, which no reordering or concurrent change can make
//     skip a record. When a drain page is short, every record at T has been
//     returned and the walk continues with updated_at > T.
//
// Each step either ends the walk, moves P.at forward (case 2), or moves P.id
// forward within a tie that then ends (case 3), so a walk always terminates;
// the bound, taken from the instance's own clock at the start of the pass,
// stops it from chasing records written while it runs.
//
// What one answer cannot prove is a record that becomes visible after the
// walk passed its updated_at (a late-visible write, or a write in the same
// second as the answer). The bound excludes the current second, and the
// lookback window (each pass starts again some minutes before the cursor, and
// skips versions already published) catches the rest.
type walk struct {
	list  Lister
	table coupa.Table
	bound time.Time
	pos   position
	done  bool
	// requests counts list calls, for progress and benchmarks.
	requests int
}

// next returns the next records in (updated_at, id) order, at most a page or
// two, and whether the walk is complete. The walk's position moves past the
// returned records only; on error it stays where it was.
func (w *walk) next(ctx context.Context) ([]coupa.Record, error) {
	if w.done {
		return nil, nil
	}
	page, err := w.get(ctx, w.mainQuery())
	if err != nil {
		return nil, err
	}
	recs := sortRecords(page.Records)
	if len(page.Records) < coupa.MaxLimit {
		out := w.after(recs)
		w.advanceTo(out)
		w.done = true
		return out, nil
	}
	newest := recs[len(recs)-1].UpdatedAt
	if recs[0].UpdatedAt.Equal(newest) {
		return w.drain(ctx, newest)
	}
	var out []coupa.Record
	for _, r := range w.after(recs) {
		if r.UpdatedAt.Before(newest) {
			out = append(out, r)
		}
	}
	w.pos = position{at: newest}
	return out, nil
}

// drain returns the tie at t page by page (by id), continuing from the
// position's id when the position is inside that tie.
func (w *walk) drain(ctx context.Context, t time.Time) ([]coupa.Record, error) {
	from := int64(0)
	if w.pos.at.Equal(t) {
		from = w.pos.id
	}
	var out []coupa.Record
	for {
		page, err := w.get(ctx, coupa.Query{
			// t is at or before the bound, so the bound is not repeated:
			// a parameter given twice is ambiguous (Rails keeps the last).
			Filters: []coupa.Filter{
				{Attr: "updated_at", Op: coupa.GtOrEq, Value: coupa.FormatTime(t)},
				{Attr: "updated_at", Op: coupa.LtOrEq, Value: coupa.FormatTime(t)},
				{Attr: "id", Op: coupa.Gt, Value: strconv.FormatInt(from, 10)},
			},
			OrderBy: "id",
		})
		if err != nil {
			if len(out) > 0 { // keep what was drained; resume from there
				return out, nil
			}
			return nil, err
		}
		recs := sortRecords(page.Records)
		for _, r := range recs {
			if r.UpdatedAt.Equal(t) && r.ID > from {
				out = append(out, r)
			}
		}
		if len(recs) > 0 {
			from = recs[len(recs)-1].ID
		}
		w.pos = position{at: t, id: from}
		if len(page.Records) < coupa.MaxLimit {
			w.pos.tieDone = true
			return out, nil
		}
		if len(out) >= 4*coupa.MaxLimit {
			return out, nil // hand over a batch; the drain resumes from pos
		}
	}
}

func (w *walk) mainQuery() coupa.Query {
	q := coupa.Query{Filters: w.boundFilter(), OrderBy: "updated_at"}
	if !w.pos.at.IsZero() {
		op := coupa.GtOrEq
		if w.pos.tieDone {
			op = coupa.Gt
		}
		q.Filters = append(q.Filters, coupa.Filter{Attr: "updated_at", Op: op, Value: coupa.FormatTime(w.pos.at)})
	}
	return q
}

func (w *walk) boundFilter() []coupa.Filter {
	return []coupa.Filter{{Attr: "updated_at", Op: coupa.LtOrEq, Value: coupa.FormatTime(w.bound)}}
}

func (w *walk) get(ctx context.Context, q coupa.Query) (coupa.Page, error) {
	w.requests++
	return w.list.List(ctx, w.table, q)
}

// after drops the records the position already covers (and any beyond the
// bound, which a faithful instance never sends).
func (w *walk) after(recs []coupa.Record) []coupa.Record {
	out := recs[:0:0]
	for _, r := range recs {
		if !w.pos.covers(r.UpdatedAt, r.ID) && !r.UpdatedAt.After(w.bound) {
			out = append(out, r)
		}
	}
	return out
}

func (w *walk) advanceTo(recs []coupa.Record) {
	if len(recs) > 0 {
		last := recs[len(recs)-1]
		w.pos = position{at: last.UpdatedAt, id: last.ID}
	}
}

// sortRecords orders a page by (updated_at, id); Coupa leaves ties unordered.
func sortRecords(recs []coupa.Record) []coupa.Record {
	slices.SortFunc(recs, func(a, b coupa.Record) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return recs
}
