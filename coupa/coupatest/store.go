package coupatest

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// state is all the simulator stores per record: bodies are rendered on
// demand from (seed, table, id, version), so a million records cost tens of
// megabytes, not gigabytes.
type state struct {
	id      int64
	created int64 // unix seconds
	updated int64 // unix seconds
	// lineAt is when the lines last changed on their own (ChangeLines,
	// unix seconds) and lineVersion counts those changes: two numbers
	// stand for every line of the record, none of which is stored.
	lineAt      int64
	version     uint32
	lineVersion uint32
	// seq is the table's custom epoch when this version was written: which
	// custom fields its header renders (AddCustomField). It fits in the
	// padding, so a state stays 48 bytes.
	seq     uint32
	deleted bool
}

// ikey is an entry of the (updated_at, id) index.
type ikey struct{ at, id int64 }

func (a ikey) less(b ikey) bool { return a.at < b.at || (a.at == b.at && a.id < b.id) }

// sortKeys puts an index in (updated, id) order.
func sortKeys(idx []ikey) {
	slices.SortFunc(idx, func(a, b ikey) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
}

// table holds one object's records. recs is sorted by id (ids only grow);
// idx is sorted by (updated, id) and may hold stale entries (an older
// updated_at of a record since changed), which scans skip and compaction
// drops. Updates stamp "now", so new keys land at the tail and cost O(1)
// amortised; only late writes insert in the middle.
type table struct {
	meta coupa.Table
	plan *plan
	base int64
	// unreliable marks a table whose updated-at does not move with every
	// change (unreliableUpdatedAt); seed makes which changes keep it
	// deterministic.
	unreliable bool
	seed       uint64
	// epoch is the current custom epoch, stamped on every version written
	// (state.seq); AddCustomField moves it on.
	epoch uint32

	mu     sync.RWMutex
	recs   []state
	idx    []ikey
	stale  int
	live   int
	nextID int64
	// createdSorted holds while created_at never decreases with id, which
	// lets created_at filters become id ranges.
	createdSorted bool
	// lineOf is set on a line list resource (lines.go): the table whose
	// records own the lines. Its recs and idx, empty on the resource
	// itself, are filled per request with the lines' states.
	lineOf *table
}

// ctx is what rendering st depends on. A line list's states are lines,
// rendered exactly as inside their record.
func (t *table) ctx(st state) rctx {
	c := rctx{id: st.id, version: st.version, created: st.created, updated: st.updated,
		lineVersion: st.lineVersion, lineAt: st.lineAt, seq: st.seq}
	if t.lineOf == nil {
		return c
	}
	c.id = st.id / 100
	return lineCtx(&c, int(st.id%100))
}

func (t *table) find(id int64) int {
	i := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].id >= id })
	if i < len(t.recs) && t.recs[i].id == id {
		return i
	}
	return -1
}

// current reports whether an index entry still describes a visible record.
func (t *table) current(k ikey) (state, bool) {
	i := t.find(k.id)
	if i < 0 {
		return state{}, false
	}
	st := t.recs[i]
	return st, !st.deleted && st.updated == k.at
}

func (t *table) addKey(k ikey) {
	n := len(t.idx)
	if n == 0 || t.idx[n-1].less(k) {
		t.idx = append(t.idx, k)
		return
	}
	i := sort.Search(n, func(i int) bool { return !t.idx[i].less(k) })
	if i < n && t.idx[i] == k {
		return // the entry exists (possibly stale until now): it is current again
	}
	t.idx = slices.Insert(t.idx, i, k)
}

// unreliableUpdatedAt are the tables whose updated-at does not move with
// every change: coupa-api.md says other connectors leave budget lines out
// of incremental sync for that reason, so a sync must read them whole.
var unreliableUpdatedAt = map[string]bool{"budget_lines": true}

// keepsUpdated reports whether version v of record id keeps the updated-at
// of the version before: two of three new versions of an unreliable table,
// chosen by (seed, id, version) so runs repeat.
func (t *table) keepsUpdated(id int64, v uint32) bool {
	return t.unreliable && mix(t.seed^mix(uint64(id))^uint64(v)*0x9e3779b97f4a7c15)%3 != 0
}

// setUpdated gives record i a new version stamped at, or stamped with its
// old updated-at when the table's updated-at does not move for this change
// (keepsUpdated), and returns the updated-at it got. The (updated, id)
// index gains a key only when the updated-at moves. Caller holds mu.
func (t *table) setUpdated(i int, at int64) int64 {
	old := t.recs[i]
	if t.keepsUpdated(old.id, old.version+1) {
		at = old.updated
	}
	t.recs[i].updated = at
	t.recs[i].version++
	t.recs[i].seq = t.epoch
	if old.updated != at {
		t.stale++
		t.addKey(ikey{at, old.id})
	}
	t.maybeCompact()
	return at
}

func (t *table) maybeCompact() {
	if t.stale < 1024 || t.stale < len(t.idx)/4 {
		return
	}
	out := t.idx[:0]
	for _, k := range t.idx {
		if _, ok := t.current(k); ok {
			out = append(out, k)
		}
	}
	t.idx = out
	t.stale = 0
}

func (t *table) insert(at int64) int64 {
	id := t.nextID
	t.nextID++
	if n := len(t.recs); n > 0 && t.recs[n-1].created > at {
		t.createdSorted = false
	}
	t.recs = append(t.recs, state{id: id, created: at, updated: at, version: 1, seq: t.epoch})
	t.addKey(ikey{at, id})
	t.live++
	return id
}

func (t *table) remove(i int) {
	t.recs[i].deleted = true
	t.recs[i].version++
	t.live--
	t.stale++
	t.maybeCompact()
}

// scanUpdated visits visible records with lo <= updated <= hi in index
// order until fn returns false. Caller holds mu (read).
func (t *table) scanUpdated(lo, hi int64, desc bool, fn func(state) bool) {
	if !desc {
		i := sort.Search(len(t.idx), func(i int) bool { return t.idx[i].at >= lo })
		for ; i < len(t.idx) && t.idx[i].at <= hi; i++ {
			if st, ok := t.current(t.idx[i]); ok && !fn(st) {
				return
			}
		}
		return
	}
	i := sort.Search(len(t.idx), func(i int) bool { return t.idx[i].at > hi }) - 1
	for ; i >= 0 && t.idx[i].at >= lo; i-- {
		if st, ok := t.current(t.idx[i]); ok && !fn(st) {
			return
		}
	}
}

// scanID visits visible records with lo <= id <= hi in id order.
func (t *table) scanID(lo, hi int64, desc bool, fn func(state) bool) {
	if !desc {
		i := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].id >= lo })
		for ; i < len(t.recs) && t.recs[i].id <= hi; i++ {
			if !t.recs[i].deleted && !fn(t.recs[i]) {
				return
			}
		}
		return
	}
	i := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].id > hi }) - 1
	for ; i >= 0 && t.recs[i].id >= lo; i-- {
		if !t.recs[i].deleted && !fn(t.recs[i]) {
			return
		}
	}
}

// createdToIDs narrows an id range by a created_at range while created_at
// is monotone in id.
func (t *table) createdToIDs(lo, hi int64) (int64, int64) {
	if !t.createdSorted || (lo == math.MinInt64 && hi == math.MaxInt64) {
		return math.MinInt64, math.MaxInt64
	}
	i := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].created >= lo })
	j := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].created > hi })
	if i >= j {
		return 1, 0
	}
	return t.recs[i].id, t.recs[j-1].id
}

// seedTable generates the initial history: created_at spread over the
// window before epoch (ascending with id, bursts sharing a second),
// updated_at later for most records, hourly batch jobs that stamp many
// records with the same second, and one tie larger than a page.
func seedTable(t *table, n int, seed int64, epoch, window int64, tie int) {
	rng := rand.New(rand.NewPCG(uint64(seed), saltOf(t.meta.Name)))
	start := epoch - window
	created := make([]int64, n)
	for i := range created {
		created[i] = start + rng.Int64N(window-3600)
	}
	slices.Sort(created)
	for i := 1; i < n; i++ {
		if rng.IntN(5) == 0 {
			created[i] = created[i-1] // several records created in one second
		}
	}
	t.recs = make([]state, n)
	t.nextID = t.base
	for i := range t.recs {
		c := created[i]
		u := c
		if rng.IntN(100) >= 35 {
			u = c + rng.Int64N(epoch-c)
			if rng.IntN(10) == 0 {
				if s := u - u%3600; s >= c { // a batch job on the hour
					u = s
				}
			}
		}
		v := uint32(1)
		if u != c {
			v += 1 + uint32(rng.IntN(3))
		}
		t.recs[i] = state{id: t.nextID, created: c, updated: u, version: v}
		t.nextID++
	}
	if tie > 0 && n > 0 {
		at := epoch - 3*86400 + 17
		picked := 0
		for _, i := range rng.Perm(n) {
			if picked == tie {
				break
			}
			if t.recs[i].created <= at {
				t.recs[i].updated = at
				t.recs[i].version++
				picked++
			}
		}
	}
	t.idx = make([]ikey, n)
	for i, r := range t.recs {
		t.idx[i] = ikey{r.updated, r.id}
	}
	sortKeys(t.idx)
	t.live = n
	t.createdSorted = true
}
