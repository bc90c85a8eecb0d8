package coupatest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// lineCase is a table whose lines have a list resource of their own.
type lineCase struct {
	table  string // "purchase_orders"
	path   string // its line list resource
	lines  string // the lines' key in the record
	parent string // the record's id in a line
	scope  string
}

var lineCases = []lineCase{
	{"purchase_orders", "/api/purchase_order_lines", "order-lines", "order-header-id", "core.purchase_order.read"},
	{"expense_reports", "/api/expense_lines", "expense-lines", "expense-report-id", "core.expense.read"},
}

func newLineServer(t *testing.T, c lineCase, n int, mod func(*coupatest.Config)) *coupatest.Server {
	t.Helper()
	return newServer(t, func(cfg *coupatest.Config) {
		cfg.Records = map[string]int{c.table: n, "invoices": 5}
		if mod != nil {
			mod(cfg)
		}
	})
}

// fieldsOf decodes a record's top-level keys, keeping their bytes.
func fieldsOf(t testing.TB, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %.200s", err, raw)
	}
	return m
}

// embedded returns a record's lines, each with the bytes it is embedded as.
func embedded(t testing.TB, raw []byte, key string) []json.RawMessage {
	t.Helper()
	var ls []json.RawMessage
	if err := json.Unmarshal(fieldsOf(t, raw)[key], &ls); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return ls
}

// truthLines returns every line of the table's live records in id order.
func truthLines(t testing.TB, s *coupatest.Server, c lineCase) []json.RawMessage {
	t.Helper()
	truth := s.Truth(c.table)
	var out []json.RawMessage
	for _, st := range s.States(c.table) {
		out = append(out, embedded(t, truth[st.ID].JSON, c.lines)...)
	}
	return out
}

// rawPages lists every page of path ordered by id, keeping each line's bytes.
func rawPages(t testing.TB, s *coupatest.Server, tok, path string) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	for off := 0; ; off += 50 {
		r := get(t, s, tok, path, url.Values{"order_by": {"id"}, "offset": {strconv.Itoa(off)}})
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var page []json.RawMessage
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 50 {
			return all
		}
	}
}

func num(t testing.TB, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	return int64(f)
}

func updatedAt(t testing.TB, rec map[string]any) time.Time {
	t.Helper()
	at, err := coupa.ParseTime(rec["updated-at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// ChangeLines gives every line of a record new content and updated-at, in
// the record's JSON and the line list alike, and leaves the record's own
// fields, updated-at and version (and its line ids) as they were.
func TestChangeLines(t *testing.T) {
	for _, c := range lineCases {
		for _, deletes := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/deletes=%v", c.table, deletes), func(t *testing.T) {
				mod := func(cfg *coupatest.Config) { cfg.Deletes = deletes }
				s := newLineServer(t, c, 20, mod)
				twin := newLineServer(t, c, 20, mod) // the same data, lines never changed
				tok := token(t, s, c.scope)
				id, most := int64(0), 0 // the record with the most lines
				for _, tr := range s.Truth(c.table) {
					if n := len(embedded(t, tr.JSON, c.lines)); n > most || n == most && tr.ID < id {
						id, most = tr.ID, n
					}
				}
				for n := most; deletes && n == most; { // until a version drops a line, which must stay dropped
					s.Update(c.table, id)
					twin.Update(c.table, id)
					now, _ := s.Record(c.table, id)
					if n = len(embedded(t, now.JSON, c.lines)); now.Version > 40 {
						t.Fatal("no version dropped a line")
					}
				}
				before, _ := s.Record(c.table, id)
				at, err := s.ChangeLines(c.table, id)
				if err != nil {
					t.Fatal(err)
				}
				after, _ := s.Record(c.table, id)
				if !after.UpdatedAt.Equal(before.UpdatedAt) || after.Version != before.Version {
					t.Fatalf("record moved: updated %v -> %v, version %d -> %d", before.UpdatedAt, after.UpdatedAt, before.Version, after.Version)
				}
				checkLinesChanged(t, c, before.JSON, after.JSON, at)
				for _, ln := range embedded(t, after.JSON, c.lines) {
					lid := num(t, jsonAny(t, fieldsOf(t, ln)["id"]))
					r := get(t, s, tok, fmt.Sprintf("%s/%d", c.path, lid), nil)
					if r.status != 200 || !bytes.Equal(r.body, ln) {
						t.Fatalf("line %d: %d %.100s, want it as embedded", lid, r.status, r.body)
					}
				}
				// A later update of the record keeps the line changes: its lines
				// differ from the same version's without them.
				s.Update(c.table, id)
				twin.Update(c.table, id)
				changed, _ := s.Record(c.table, id)
				plain, _ := twin.Record(c.table, id)
				checkLinesChanged(t, c, plain.JSON, changed.JSON, changed.UpdatedAt)
			})
		}
	}
}

// checkLinesChanged asserts that after's lines are before's (same ids) with
// new content and updated-at at, and that nothing else of the record moved.
func checkLinesChanged(t *testing.T, c lineCase, before, after []byte, at time.Time) {
	t.Helper()
	b, a := fieldsOf(t, before), fieldsOf(t, after)
	for k, v := range b {
		if k != c.lines && k != "updated-at" && !bytes.Equal(v, a[k]) {
			t.Fatalf("record's %s moved: %s -> %s", k, v, a[k])
		}
	}
	bl, al := embedded(t, before, c.lines), embedded(t, after, c.lines)
	if len(al) != len(bl) {
		t.Fatalf("%d lines, then %d", len(bl), len(al))
	}
	for i := range al {
		lb, la := fieldsOf(t, bl[i]), fieldsOf(t, al[i])
		if !bytes.Equal(lb["id"], la["id"]) || !bytes.Equal(lb[c.parent], la[c.parent]) {
			t.Fatalf("line %s became %s (parent %s -> %s)", lb["id"], la["id"], lb[c.parent], la[c.parent])
		}
		var upd string
		json.Unmarshal(la["updated-at"], &upd)
		if got, _ := coupa.ParseTime(upd); !got.Equal(at) {
			t.Fatalf("line %s updated-at %s, want %v", la["id"], upd, at)
		}
		delete(lb, "updated-at")
		delete(la, "updated-at")
		if bytes.Equal(mustJSON(t, lb), mustJSON(t, la)) {
			t.Fatalf("line %s has the content it had", la["id"])
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChangeLinesErrors(t *testing.T) {
	s := newLineServer(t, lineCases[0], 5, nil)
	gone := s.States("purchase_orders")[1].ID
	s.Delete("purchase_orders", gone)
	cases := []struct {
		name  string
		table string
		id    int64
	}{
		{"table without a line list", "invoices", s.States("invoices")[0].ID},
		{"unknown id", "purchase_orders", 999999},
		{"deleted id", "purchase_orders", gone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.ChangeLines(tc.table, tc.id); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// The line list lists exactly the lines of the live records, each as its
// record embeds it (so with the record's id), in id order by default.
func TestLineListListsLinesOfLiveRecords(t *testing.T) {
	for _, c := range lineCases {
		t.Run(c.table, func(t *testing.T) {
			s := newLineServer(t, c, 60, nil)
			tok := token(t, s, c.scope)
			sts := s.States(c.table)
			gone := sts[3].ID
			s.Delete(c.table, gone)
			s.ChangeLines(c.table, sts[10].ID)
			want := truthLines(t, s, c)
			got := rawPages(t, s, tok, c.path)
			if len(got) != len(want) || len(want) <= 100 {
				t.Fatalf("%d lines listed, want %d (over 2 pages)", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("line %d:\n%.300s\nwant\n%.300s", i, got[i], want[i])
				}
				m := fieldsOf(t, got[i])
				lid, parent := num(t, jsonAny(t, m["id"])), num(t, jsonAny(t, m[c.parent]))
				if lid/100 != parent || parent == gone {
					t.Fatalf("line %d has %s %d", lid, c.parent, parent)
				}
			}
			r := get(t, s, tok, fmt.Sprintf("%s/%d", c.path, gone*100+1), nil)
			if r.status != http.StatusNotFound {
				t.Fatalf("a deleted record's line: status %d", r.status)
			}
			r = get(t, s, tok, fmt.Sprintf("%s/%d", c.path, sts[0].ID*100+99), nil)
			if r.status != http.StatusNotFound {
				t.Fatalf("a line beyond the record's: status %d", r.status)
			}
			var def []json.RawMessage // no order_by: id order
			json.Unmarshal(get(t, s, tok, c.path, nil).body, &def)
			if len(def) != 50 || !slices.EqualFunc(def, got[:50], func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
				t.Fatal("the default order is not id order")
			}
			if st := s.Stats(); st.Total(c.path[len("/api/"):], 200) == 0 {
				t.Fatalf("stats do not count the line list: %+v", st.Requests)
			}
		})
	}
}

func jsonAny(t testing.TB, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// keysetWalk reads every line updated at or after from, as a connector
// does: pages in updated_at order; a full page's newest second is drained
// by id with updated_at pinned to it, so no tie is lost or read twice.
func keysetWalk(t *testing.T, s *coupatest.Server, tok string, c lineCase, from time.Time) []map[string]any {
	t.Helper()
	fields := fmt.Sprintf(`["id","updated-at",%q]`, c.parent)
	var out []map[string]any
	at := from
	for {
		last := int64(0)
		for { // the tie at at, by id
			ts := coupa.FormatTime(at)
			page := records(t, get(t, s, tok, c.path, url.Values{"updated_at[gt_or_eq]": {ts}, "updated-at[lt_or_eq]": {ts},
				"id[gt]": {fmt.Sprint(last)}, "order_by": {"id"}, "fields": {fields}}))
			out = append(out, page...)
			if len(page) < 50 {
				break
			}
			last = num(t, page[len(page)-1]["id"])
		}
		page := records(t, get(t, s, tok, c.path, url.Values{"updated_at[gt]": {coupa.FormatTime(at)}, "order_by": {"updated_at"}, "fields": {fields}}))
		if len(page) < 50 {
			return append(out, page...)
		}
		newest := updatedAt(t, page[len(page)-1])
		for _, r := range page {
			if updatedAt(t, r).Before(newest) {
				out = append(out, r)
			}
		}
		at = newest
	}
}

// checkWalk asserts that a walk returned every wanted line exactly once,
// with its updated-at and parent.
func checkWalk(t *testing.T, c lineCase, got []map[string]any, want []json.RawMessage) {
	t.Helper()
	seen := map[int64]bool{}
	for _, r := range got {
		id := num(t, r["id"])
		if seen[id] {
			t.Fatalf("line %d read twice", id)
		}
		seen[id] = true
		if len(r) != 3 || num(t, r[c.parent]) != id/100 {
			t.Fatalf("line %v: not the 3 fields asked for", r)
		}
	}
	for _, raw := range want {
		var w map[string]any
		json.Unmarshal(raw, &w)
		if !seen[num(t, w["id"])] {
			t.Fatalf("line %v never read", w["id"])
		}
		delete(seen, num(t, w["id"]))
	}
	if len(seen) != 0 {
		t.Fatalf("lines read that are not wanted: %v", seen)
	}
}

// Keyset paging on updated_at reads every line exactly once, also across a
// tie longer than a page and after lines changed on their own.
func TestLineListKeysetPaging(t *testing.T) {
	for _, c := range lineCases {
		t.Run(c.table, func(t *testing.T) {
			s := newLineServer(t, c, 80, nil)
			tok := token(t, s, c.scope)
			start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			checkWalk(t, c, keysetWalk(t, s, tok, c, start), truthLines(t, s, c))
			mark := s.Now().Add(-time.Second)    // before any change below
			bulk, _ := s.BulkUpdate(c.table, 40) // a tie of lines longer than a page
			sts := s.States(c.table)
			changed := []int64{sts[2].ID, sts[50].ID}
			for _, id := range changed {
				if _, err := s.ChangeLines(c.table, id); err != nil {
					t.Fatal(err)
				}
			}
			s.Delete(c.table, sts[60].ID)
			checkWalk(t, c, keysetWalk(t, s, tok, c, start), truthLines(t, s, c))
			var want []json.RawMessage
			truth := s.Truth(c.table)
			for _, id := range append(bulk, changed...) {
				if r, ok := truth[id]; ok {
					want = append(want, embedded(t, r.JSON, c.lines)...)
				}
			}
			want = dedupLines(t, want)
			if len(want) <= 50 {
				t.Fatalf("%d lines changed: no tie longer than a page", len(want))
			}
			checkWalk(t, c, keysetWalk(t, s, tok, c, mark), want)
		})
	}
}

// dedupLines drops repeated lines (a record both bulk-updated and changed).
func dedupLines(t *testing.T, ls []json.RawMessage) []json.RawMessage {
	t.Helper()
	seen := map[int64]bool{}
	var out []json.RawMessage
	for _, l := range ls {
		id := num(t, jsonAny(t, fieldsOf(t, l)["id"]))
		if !seen[id] {
			seen[id] = true
			out = append(out, l)
		}
	}
	return out
}

// The line list takes the tables' query parameters with their semantics
// and errors.
func TestLineListQueries(t *testing.T) {
	c := lineCases[0]
	s := newLineServer(t, c, 40, nil)
	tok := token(t, s, c.scope)
	sts := s.States(c.table)
	s.ChangeLines(c.table, sts[5].ID)
	var all []map[string]any
	for _, raw := range truthLines(t, s, c) {
		var m map[string]any
		json.Unmarshal(raw, &m)
		all = append(all, m)
	}
	mid := all[len(all)/2]
	midID, midUpd, parent := num(t, mid["id"]), updatedAt(t, mid), num(t, mid[c.parent])
	byUpdDesc := slices.Clone(all)
	sort.SliceStable(byUpdDesc, func(i, j int) bool {
		a, b := updatedAt(t, byUpdDesc[i]), updatedAt(t, byUpdDesc[j])
		if !a.Equal(b) {
			return a.After(b)
		}
		return num(t, byUpdDesc[i]["id"]) > num(t, byUpdDesc[j]["id"])
	})
	keep := func(f func(map[string]any) bool) []int64 { // the first page of the matching lines
		var out []int64
		for _, r := range all {
			if f(r) && len(out) < 50 {
				out = append(out, num(t, r["id"]))
			}
		}
		return out
	}
	cases := []struct {
		name string
		q    url.Values
		want []int64
	}{
		{"updated_at gt", url.Values{"updated_at[gt]": {coupa.FormatTime(midUpd)}, "order_by": {"id"}},
			keep(func(r map[string]any) bool { return updatedAt(t, r).After(midUpd) })},
		{"updated-at lt_or_eq", url.Values{"updated-at[lt_or_eq]": {coupa.FormatTime(midUpd)}, "order_by": {"id"}, "limit": {"20"}},
			keep(func(r map[string]any) bool { return !updatedAt(t, r).After(midUpd) })[:20]},
		{"id in", url.Values{"id[in]": {fmt.Sprintf("%d,%d,5", midID, midID+1)}},
			keep(func(r map[string]any) bool { id := num(t, r["id"]); return id == midID || id == midID+1 })},
		{"id not_eq with offset", url.Values{"id[not_eq]": {fmt.Sprint(midID)}, "offset": {"10"}, "limit": {"5"}},
			keep(func(r map[string]any) bool { return num(t, r["id"]) != midID })[10:15]},
		{"the parent's id", url.Values{"order_header_id": {fmt.Sprint(parent)}},
			keep(func(r map[string]any) bool { return num(t, r[c.parent]) == parent })},
		{"order_by updated_at desc", url.Values{"order_by": {"updated_at"}, "dir": {"desc"}, "limit": {"7"}},
			ids(byUpdDesc[:7])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Set("fields", `["id","updated-at","order-header-id"]`)
			recs := records(t, get(t, s, tok, c.path, tc.q))
			if got := ids(recs); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
			for _, r := range recs {
				if len(r) != 3 || r["order-header-id"] == nil {
					t.Fatalf("fields: keys %v", r)
				}
			}
		})
	}
	if lim := records(t, get(t, s, tok, c.path, url.Values{"return_object": {"limited"}, "limit": {"3"}})); len(lim) != 3 || len(lim[0]) != 1 {
		t.Fatalf("return_object=limited: %v", lim)
	}
	bad := []struct{ raw, field string }{
		{"order_by=bogus", "order_by"},
		{"order_by=account", "order_by"},
		{"no_such_attr=1", "no_such_attr"},
		{"updated_at[gt]=yesterday", "updated_at"},
		{"id[like]=1", "id[like]"},
		{"fields=id", "fields"},
	}
	for _, tc := range bad {
		t.Run(tc.raw, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL()+c.path+"?"+tc.raw, nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			r := do(t, s, req)
			if r.status != 400 || len(r.errorsBody(t)[tc.field]) == 0 {
				t.Fatalf("status %d %s, want 400 naming %s", r.status, r.body, tc.field)
			}
		})
	}
}

// The line list stands behind the same token, scope and fault checks as
// the tables' lists, and answers XML unless asked for JSON.
func TestLineListAuthAndFaults(t *testing.T) {
	for _, c := range lineCases {
		t.Run(c.table, func(t *testing.T) {
			s := newLineServer(t, c, 5, nil)
			if r := get(t, s, token(t, s, "core.invoice.read"), c.path, nil); r.status != http.StatusForbidden {
				t.Fatalf("token without %s: status %d", c.scope, r.status)
			}
			tok := token(t, s, c.scope)
			s.Faults().Inject(coupatest.FaultServerErrorJSON, 1)
			if r := get(t, s, tok, c.path, nil); r.status != http.StatusInternalServerError {
				t.Fatalf("injected 500: status %d", r.status)
			}
			req, _ := http.NewRequest("GET", s.URL()+c.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if r := do(t, s, req); r.status != 200 || !bytes.HasPrefix(r.body, []byte("<?xml")) {
				t.Fatalf("without Accept JSON: %d %.80s", r.status, r.body)
			}
		})
	}
}

// With LineChanges, Churn changes lines on their own: some line ends up
// newer than its record. Without it, every line has its record's updated-at.
func TestChurnChangesLines(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("LineChanges=", on), func(t *testing.T) {
			c := lineCases[0]
			s := newServer(t, func(cfg *coupatest.Config) {
				cfg.Records = map[string]int{"invoices": 30, c.table: 30}
				cfg.LineChanges = on
			})
			stop := make(chan struct{})
			go func() { time.Sleep(300 * time.Millisecond); close(stop) }()
			s.Churn(stop, 2*time.Millisecond, "invoices", c.table)
			newer := 0
			for _, tr := range s.Truth(c.table) {
				for _, ln := range embedded(t, tr.JSON, c.lines) {
					var l struct {
						UpdatedAt string `json:"updated-at"`
					}
					json.Unmarshal(ln, &l)
					at, _ := coupa.ParseTime(l.UpdatedAt)
					if at.Before(tr.UpdatedAt) {
						t.Fatalf("record %d: line older than its record", tr.ID)
					}
					if at.After(tr.UpdatedAt) {
						newer++
					}
				}
			}
			if (newer > 0) != on {
				t.Fatalf("%d lines newer than their record", newer)
			}
		})
	}
}

// BenchmarkLineListPage measures a line list page over 10,000 purchase
// orders: every request expands the lines of the whole table.
func BenchmarkLineListPage(b *testing.B) {
	cfg := coupatest.DefaultConfig()
	cfg.Epoch = fixedEpoch
	cfg.Records = map[string]int{"purchase_orders": 10_000}
	s := coupatest.NewTLS(b, cfg)
	tok := token(b, s, "")
	for _, q := range []url.Values{
		{"order_by": {"id"}, "offset": {"5000"}},
		{"updated_at[gt_or_eq]": {"2025-01-01T00:00:00Z"}, "order_by": {"updated_at"}},
	} {
		b.Run(q.Get("order_by"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := get(b, s, tok, "/api/purchase_order_lines", q); r.status != 200 {
					b.Fatal(r.status)
				}
			}
		})
	}
}
