package producer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
//
// returned lists ids at `at` that were returned although the tie at `at` is
// not known to be complete (the newest second of a full page, see walk): the
// position covers them, and the next query excludes them, so that they are
// not read again. Like tieDone it is not persisted.
type position struct {
	at       time.Time
	id       int64
	tieDone  bool
	returned []int64
}

// maxReturned bounds position.returned (the ids go into the query string);
// a page whose newest second holds more records holds them back instead.
const maxReturned = 10

// String is for logs.
func (p position) String() string {
	if p.at.IsZero() {
		return "earliest"
	}
	return fmt.Sprintf("%s id %d", p.at.UTC().Format(time.RFC3339), p.id)
}

func (p position) covers(at time.Time, id int64) bool {
	return at.Before(p.at) || (at.Equal(p.at) && (p.tieDone || id <= p.id || slices.Contains(p.returned, id)))
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
//     records at M that it does contain. Those older records are returned,
//     and the position becomes (M, 0): "all before M". The records at M are
//     returned too, and listed in the position, which the next query
//     excludes by id (id not_in): then its answer is the first 50 of what
//     the walk has not returned, and proves the same about them. (The tie
//     at M may continue past the page; a record at M not in the page is
//     not excluded.) The exclusion is by id at any updated_at: a newer
//     version of a listed record inside the next page's span would be
//     missed by this pass, but only a late-visible write can make one (a
//     write after the pass began is past the bound), and the lookback
//     catches it like any other. With more than maxReturned records at M,
//     or in a full refresh (which resumes exactly at its cursor, and a
//     cursor cannot list ids), they are held back instead and read again.
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
	// holdBack makes the walk hold back a full page's newest second rather
	// than return it and exclude it from the next query (case 2).
	holdBack bool
	// first, when set, is the answer to the walk's first query, read
	// before the walk began (the pass's first page, see firstPage); next
	// uses it instead of asking.
	first *readPage
	// readAt is when the records next returned last were read: just after
	// the answer that held them arrived (Unix ns). A version is as new as
	// its read (see publishRule).
	readAt int64
	// requests counts list calls, for progress and benchmarks.
	requests int
	// fields, when set, restricts every answer to these keys (Coupa's
	// fields=[...]): a walk that needs only ids and updated-at.
	fields string
}

// readPage is an answer and when it arrived (Unix ns). ranked marks a page
// read by rank (see rankedPage): it proves nothing about records at its
// oldest second, which the walk's start is after.
type readPage struct {
	page   coupa.Page
	at     int64
	ranked bool
}

// next returns the next records in (updated_at, id) order, at most a page or
// two, and whether the walk is complete. The walk's position moves past the
// returned records only; on error it stays where it was.
func (w *walk) next(ctx context.Context) ([]coupa.Record, error) {
	if w.done {
		return nil, nil
	}
	var page coupa.Page
	if f := w.first; f != nil && !(f.ranked && !newestAfter(f.page, w.pos.at)) {
		page, w.readAt = f.page, f.at
	} else {
		var err error
		if page, err = w.get(ctx, w.mainQuery()); err != nil {
			return nil, err
		}
	}
	w.first = nil
	recs := sortRecords(page.Records)
	// A short page holds every match. So does a full one that ends past the
	// bound (the pass's first page is asked without one, as the bound comes
	// from its Date header): see holdsAll.
	if holdsAll(page, w.bound) {
		out := w.after(recs)
		w.advanceTo(out)
		w.done = true
		return out, nil
	}
	newest := recs[len(recs)-1].UpdatedAt
	if recs[0].UpdatedAt.Equal(newest) {
		return w.drain(ctx, newest)
	}
	return w.older(recs, newest), nil
}

// older returns the records of a full page (case 2) and moves the position
// to its newest second, returning that second's records too unless they
// must be held back.
func (w *walk) older(recs []coupa.Record, newest time.Time) []coupa.Record {
	var out, last []coupa.Record
	for _, r := range w.after(recs) {
		if r.UpdatedAt.Before(newest) {
			out = append(out, r)
		} else {
			last = append(last, r)
		}
	}
	if w.holdBack || len(last) > maxReturned {
		w.pos = position{at: newest}
		return out
	}
	w.pos = position{at: newest, returned: make([]int64, len(last))}
	for i, r := range last {
		w.pos.returned[i] = r.ID
	}
	return append(out, last...)
}

// newestAfter reports whether page holds a record after t (a ranked page
// whose records all sit at its oldest second carries nothing of the slice
// it starts).
func newestAfter(page coupa.Page, t time.Time) bool {
	for _, r := range page.Records {
		if r.UpdatedAt.After(t) {
			return true
		}
	}
	return false
}

// drain returns the tie at t page by page (by id), continuing from the
// position's id when the position is inside that tie.
func (w *walk) drain(ctx context.Context, t time.Time) ([]coupa.Record, error) {
	from := int64(0)
	var returned []int64 // returned before the drain: not again
	if w.pos.at.Equal(t) {
		from, returned = w.pos.id, slices.Clone(w.pos.returned)
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
			if r.UpdatedAt.Equal(t) && r.ID > from && !slices.Contains(returned, r.ID) {
				out = append(out, r)
			}
		}
		if len(recs) > 0 {
			from = recs[len(recs)-1].ID
		}
		returned = slices.DeleteFunc(returned, func(id int64) bool { return id <= from })
		w.pos = position{at: t, id: from, returned: returned}
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
		if len(w.pos.returned) > 0 && !w.pos.tieDone {
			ids := make([]string, len(w.pos.returned))
			for i, id := range w.pos.returned {
				ids[i] = strconv.FormatInt(id, 10)
			}
			q.Filters = append(q.Filters, coupa.Filter{Attr: "id", Op: coupa.NotIn, Value: strings.Join(ids, ",")})
		}
	}
	return q
}

func (w *walk) boundFilter() []coupa.Filter {
	return []coupa.Filter{{Attr: "updated_at", Op: coupa.LtOrEq, Value: coupa.FormatTime(w.bound)}}
}

func (w *walk) get(ctx context.Context, q coupa.Query) (coupa.Page, error) {
	w.requests++
	q.Fields = w.fields
	page, err := w.list.List(ctx, w.table, q)
	w.readAt = time.Now().UnixNano()
	return page, err
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
