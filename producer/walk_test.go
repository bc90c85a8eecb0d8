package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// scriptedList is an instance reduced to what a walk sees: (id, updated_at)
// pairs answered with Coupa's paging (limit 50, one sort attribute, ties in
// a new random order on every request). before runs ahead of request n
// (1-based) and may change the records or fail the request.
type scriptedList struct {
	recs   map[int64]time.Time
	rng    *rand.Rand
	calls  int
	before func(n int, l *scriptedList) error
	// beyond, when set, is a record the instance wrongly returns past the
	// walk's bound on every updated_at-ordered page.
	beyond *coupa.Record
}

func (l *scriptedList) List(_ context.Context, _ coupa.Table, q coupa.Query) (coupa.Page, error) {
	l.calls++
	if l.before != nil {
		if err := l.before(l.calls, l); err != nil {
			return coupa.Page{}, err
		}
	}
	var out []coupa.Record
	for id, at := range l.recs {
		if matches(q.Filters, id, at) {
			out = append(out, coupa.Record{ID: id, UpdatedAt: at})
		}
	}
	l.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	slices.SortStableFunc(out, func(a, b coupa.Record) int { // one attribute only: ties keep the shuffle
		if q.OrderBy == "id" {
			return int(a.ID - b.ID)
		}
		return a.UpdatedAt.Compare(b.UpdatedAt)
	})
	if len(out) > coupa.MaxLimit {
		out = out[:coupa.MaxLimit]
	}
	if l.beyond != nil && q.OrderBy == "updated_at" && len(out) < coupa.MaxLimit {
		out = append(out, *l.beyond)
	}
	return coupa.Page{Records: out}, nil
}

func matches(fs []coupa.Filter, id int64, at time.Time) bool {
	for _, f := range fs {
		var c int
		switch f.Attr {
		case "updated_at":
			v, _ := coupa.ParseTime(f.Value)
			c = at.Compare(v)
		case "id":
			v, _ := strconv.ParseInt(f.Value, 10, 64)
			c = int(id - v)
		}
		ok := map[coupa.Op]bool{coupa.Gt: c > 0, coupa.GtOrEq: c >= 0, coupa.LtOrEq: c <= 0, coupa.Lt: c < 0}[f.Op]
		if !ok {
			return false
		}
	}
	return true
}

var walkT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// instanceWithTie has 30 records a second apart, a tie of n records at one
// second in the middle, and 30 more after it.
func instanceWithTie(n int) map[int64]time.Time {
	recs := map[int64]time.Time{}
	id := int64(1)
	for i := range 30 {
		recs[id] = walkT0.Add(time.Duration(i) * time.Second)
		id++
	}
	tie := walkT0.Add(100 * time.Second)
	for range n {
		recs[id] = tie
		id++
	}
	for i := range 30 {
		recs[id] = walkT0.Add(time.Duration(200+i) * time.Second)
		id++
	}
	return recs
}

// walkAll runs a walk to its end, retrying after errors as a pass does
// (from the walk's own position), and returns every record it produced.
func walkAll(t *testing.T, l *scriptedList, bound time.Time) []coupa.Record {
	t.Helper()
	w := &walk{list: l, bound: bound}
	var got []coupa.Record
	for errs := 0; !w.done; {
		recs, err := w.next(context.Background())
		got = append(got, recs...)
		if err != nil {
			if errs++; errs > 10 {
				t.Fatalf("walk keeps failing: %v", err)
			}
		}
		if l.calls > 10_000 {
			t.Fatal("the walk does not terminate")
		}
	}
	return got
}

// checkWalk: every record of want is produced exactly once, at its
// updated_at, and nothing else.
func checkWalk(t *testing.T, got []coupa.Record, want map[int64]time.Time) {
	t.Helper()
	seen := map[int64]int{}
	for _, r := range got {
		seen[r.ID]++
		if at, ok := want[r.ID]; !ok || !at.Equal(r.UpdatedAt) {
			t.Errorf("record %d at %s produced; want %v", r.ID, r.UpdatedAt.Format(time.TimeOnly), at)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("record %d produced %d times", id, seen[id])
		}
	}
}

// Ties of every size around a page (and far past it) are walked completely,
// each record once, although every answer orders the tie differently.
func TestWalkTies(t *testing.T) {
	for _, n := range []int{49, 50, 51, 120, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs := instanceWithTie(n)
			l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(uint64(n), 7))}
			checkWalk(t, walkAll(t, l, walkT0.Add(time.Hour)), recs)
		})
	}
}

// A record that moves to a later updated_at while the walk is inside a tie
// (as an edit does) is produced once, at its new time; the ones that stay
// are all produced.
func TestWalkRecordMovesMidWalk(t *testing.T) {
	recs := instanceWithTie(120)
	const moved = 40 // inside the tie
	later := walkT0.Add(150 * time.Second)
	l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(1, 2)), before: func(n int, l *scriptedList) error {
		if n == 3 { // mid-drain
			l.recs[moved] = later
		}
		return nil
	}}
	got := walkAll(t, l, walkT0.Add(time.Hour))
	want := map[int64]time.Time{}
	for id, at := range recs {
		want[id] = at
	}
	want[moved] = later
	// The walk may also have produced the record at its old time before it
	// moved: that older version is legitimate, its newer one is required.
	var filtered []coupa.Record
	for _, r := range got {
		if r.ID == moved && !r.UpdatedAt.Equal(later) {
			continue
		}
		filtered = append(filtered, r)
	}
	checkWalk(t, filtered, want)
}

// Records past the bound are never produced, even if the instance sends
// them; records at the bound are.
func TestWalkStopsAtTheBound(t *testing.T) {
	recs := instanceWithTie(60)
	bound := walkT0.Add(100 * time.Second) // the tie's second
	beyond := coupa.Record{ID: 999, UpdatedAt: bound.Add(time.Second)}
	l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(3, 4)), beyond: &beyond}
	want := map[int64]time.Time{}
	for id, at := range recs {
		if !at.After(bound) {
			want[id] = at
		}
	}
	checkWalk(t, walkAll(t, l, bound), want)
}

// A request that fails mid-drain loses nothing: what was drained before it
// is handed over, the walk's position stays where that ends, and the next
// call resumes the drain from there.
func TestWalkErrorMidDrain(t *testing.T) {
	for _, failAt := range []int{2, 3, 4, 7} {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			recs := instanceWithTie(400)
			l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(5, uint64(failAt))), before: func(n int, _ *scriptedList) error {
				if n == failAt {
					return errors.New("HTTP 503")
				}
				return nil
			}}
			checkWalk(t, walkAll(t, l, walkT0.Add(time.Hour)), recs)
		})
	}
}
