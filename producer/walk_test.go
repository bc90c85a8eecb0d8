package producer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// scriptedList is an instance reduced to what a walk sees: (id, updated_at)
// pairs answered with Coupa's paging (limit 50, one sort attribute, ties in
// a new random order on every request). before runs ahead of request n
// (1-based) and may change the records or fail the request.
type scriptedList struct {
	mu     sync.Mutex // rank probes ask concurrently
	recs   map[int64]time.Time
	rng    *rand.Rand
	calls  int
	before func(n int, l *scriptedList) error
	// beyond, when set, is a record the instance wrongly returns past the
	// walk's bound on every updated_at-ordered page.
	beyond *coupa.Record
}

func (l *scriptedList) List(_ context.Context, _ coupa.Table, q coupa.Query) (coupa.Page, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	out = out[min(q.Offset, len(out)):]
	if len(out) > q.PageSize() {
		out = out[:q.PageSize()]
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
			if f.Op == coupa.NotIn {
				for _, v := range strings.Split(f.Value, ",") {
					if n, _ := strconv.ParseInt(v, 10, 64); n == id {
						return false
					}
				}
				continue
			}
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
	return runWalk(t, &walk{list: l, bound: bound}, l)
}

// runWalk runs w to its end, retrying after errors from its own position.
func runWalk(t *testing.T, w *walk, l *scriptedList) []coupa.Record {
	t.Helper()
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

// The pass's first page is asked without an upper bound (the bound comes
// from its Date header) and handed to the first slice's walk. Whether it is
// short, full and ending past the bound, or full and within it, the walk
// produces every record up to the bound exactly once, and asks again only
// when the page cannot hold them all.
func TestWalkStartsWithTheFirstPage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recs      int           // records a second apart from walkT0
		bound     time.Duration // after walkT0
		moreCalls bool          // the walk must ask after the first page
	}{
		{"short", 30, time.Hour, false},
		{"full, ends past the bound", 80, 40 * time.Second, false},
		{"full, within the bound", 80, time.Hour, true},
		{"full, bound at its last record", 50, 49 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := map[int64]time.Time{}
			for i := range tc.recs {
				recs[int64(i+1)] = walkT0.Add(time.Duration(i) * time.Second)
			}
			l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(9, 9))}
			page, err := l.List(context.Background(), coupa.Table{}, coupa.Query{OrderBy: "updated_at"})
			if err != nil {
				t.Fatal(err)
			}
			bound := walkT0.Add(tc.bound)
			w := &walk{list: l, bound: bound, first: &readPage{page: page, at: 1}}
			got := runWalk(t, w, l)
			want := map[int64]time.Time{}
			for id, at := range recs {
				if !at.After(bound) {
					want[id] = at
				}
			}
			checkWalk(t, got, want)
			if asked := l.calls > 1; asked != tc.moreCalls {
				t.Errorf("%d list calls after the first page; want more: %v", l.calls-1, tc.moreCalls)
			}
		})
	}
}

// A slice whose walk starts with a page probed by rank produces every record
// of the slice exactly once: the page's records from the slice's first
// second on, then the rest by keyset. Records at the page's oldest second
// belong to the slice before; a page whose records all sit there is
// ignored.
func TestWalkStartsWithARankedPage(t *testing.T) {
	// Records a second apart with ties of 7 at every tenth second.
	recs := map[int64]time.Time{}
	id := int64(1)
	for i := range 200 {
		n := 1
		if i%10 == 0 {
			n = 7
		}
		for range n {
			recs[id] = walkT0.Add(time.Duration(i) * time.Second)
			id++
		}
	}
	all := make([]coupa.Record, 0, len(recs))
	for id, at := range recs {
		all = append(all, coupa.Record{ID: id, UpdatedAt: at})
	}
	sortRecords(all)
	for _, rank := range []int{1, 60, 100, 170, 230} {
		t.Run(fmt.Sprint(rank), func(t *testing.T) {
			ranked := slices.Clone(all[rank:min(rank+50, len(all))])
			rand.New(rand.NewPCG(uint64(rank), 1)).Shuffle(len(ranked), func(i, j int) { ranked[i], ranked[j] = ranked[j], ranked[i] })
			start := all[rank].UpdatedAt.Add(time.Second)
			bound := walkT0.Add(150 * time.Second)
			l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(uint64(rank), 2))}
			w := &walk{list: l, bound: bound, pos: position{at: start},
				first: &readPage{page: coupa.Page{Records: ranked}, at: 1, ranked: true}}
			got := runWalk(t, w, l)
			want := map[int64]time.Time{}
			for id, at := range recs {
				if !at.Before(start) && !at.After(bound) {
					want[id] = at
				}
			}
			checkWalk(t, got, want)
		})
	}
}

// The slices a pass plans from its first page and the rank probes' pages,
// each walked from the page in hand, produce every record exactly once:
// ties of every size at and around the boundaries (a probe page inside a
// tie, a tie straddling a boundary, a tie longer than a slice), although
// every answer orders ties differently; and the probes cost little beyond
// the data pages.
func TestSlicesFromProbePages(t *testing.T) {
	for _, tie := range []int{1, 49, 50, 51, 120, 400} {
		for _, size := range []int{50, 60, 90, 100, 137} {
			t.Run(fmt.Sprintf("tie%d/slice%d", tie, size), func(t *testing.T) {
				recs := instanceWithTie(tie)
				for i := range 300 { // and a longer run of distinct seconds
					recs[int64(10_000+i)] = walkT0.Add(time.Duration(300+i) * time.Second)
				}
				l := &scriptedList{recs: recs, rng: rand.New(rand.NewPCG(uint64(tie), uint64(size)))}
				bound := walkT0.Add(time.Hour)
				ts := &tableSync{cfg: &Config{Coupa: l, Parallelism: 3, SliceRecords: size}, table: coupa.Table{Name: "t"}}
				page, err := l.List(context.Background(), ts.table, coupa.Query{OrderBy: "updated_at"})
				if err != nil {
					t.Fatal(err)
				}
				out := make(chan *slice)
				var planned []*slice
				done := make(chan struct{})
				go func() {
					for s := range out {
						planned = append(planned, s)
					}
					close(done)
				}()
				cm := &committer{in: make(chan request, len(recs))} // registrations only
				g := &generator{ts: ts, cm: cm, out: out, bound: bound}
				if err := g.run(context.Background(), &readPage{page: page, at: 1}); err != nil {
					t.Fatal(err)
				}
				close(out)
				<-done
				if len(cm.in) != len(planned) {
					t.Errorf("%d slices registered, %d handed out", len(cm.in), len(planned))
				}
				if want := (len(recs)-tie)/size - 1; len(planned) < want { // probes inside the tie find one boundary
					t.Errorf("%d slices planned for %d records, want at least %d", len(planned), len(recs), want)
				}
				var got []coupa.Record
				for _, s := range planned {
					got = append(got, runWalk(t, s.w, l)...)
				}
				checkWalk(t, got, recs)
				if extra := l.calls - (len(recs)+coupa.MaxLimit-1)/coupa.MaxLimit; tie < coupa.MaxLimit && extra > 2*len(planned)+ts.cfg.Parallelism {
					t.Errorf("%d requests for %d records in %d slices", l.calls, len(recs), len(planned))
				}
			})
		}
	}
}

// The density estimate that sizes the first probe wave.
func TestEstimate(t *testing.T) {
	page := func(step time.Duration) coupa.Page {
		var p coupa.Page
		for i := range 50 {
			p.Records = append(p.Records, coupa.Record{ID: int64(i + 1), UpdatedAt: walkT0.Add(time.Duration(i) * step)})
		}
		return p
	}
	bound := walkT0.Add(49 * 100 * time.Second)
	for _, tc := range []struct {
		name     string
		p        coupa.Page
		min, max int
	}{
		{"a page a second, 100 times the span to go", page(time.Second), 4_500, 5_500},
		{"a page spread to the bound", page(100 * time.Second), 40, 60},
		{"a tie", page(0), math.MaxInt32, math.MaxInt32},
		{"empty", coupa.Page{}, 0, 0},
	} {
		if got := estimate(tc.p, position{}, bound); got < tc.min || got > tc.max {
			t.Errorf("%s: estimate %d, want %d..%d", tc.name, got, tc.min, tc.max)
		}
	}
}
