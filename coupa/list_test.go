package coupa_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestListQueries checks that every query feature reaches the instance as
// Coupa spells it, by comparing each page with the ids the simulator's
// ground truth says the query selects, and each record's bytes with what the
// instance rendered (hyphenated keys, decimals as strings, the instance's
// offset: nothing re-encoded).
func TestListQueries(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	c := newClient(t, sim, nil)
	inv := table(t, "invoices")
	truth := sim.Truth("invoices")

	all := make([]coupatest.TruthRecord, 0, len(truth))
	for _, r := range truth {
		all = append(all, r)
	}
	byID := func(a, b coupatest.TruthRecord) int { return int(a.ID - b.ID) }
	byUpdated := func(a, b coupatest.TruthRecord) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return byID(a, b)
	}
	slices.SortFunc(all, byID)
	// The tie: the most common updated_at second (Config.TieSize records).
	counts := map[time.Time]int{}
	var tie time.Time
	for _, r := range all {
		counts[r.UpdatedAt]++
		if counts[r.UpdatedAt] > counts[tie] {
			tie = r.UpdatedAt
		}
	}
	if counts[tie] <= coupa.MaxLimit {
		t.Fatalf("the simulator made no tie larger than a page (largest %d)", counts[tie])
	}
	mid := slices.SortedFunc(slices.Values(all), byUpdated)[len(all)/2]
	pivot := all[len(all)/3].ID

	// pick returns the ids of the records keep selects, in order cmp, from
	// offset, at most limit of them.
	pick := func(keep func(coupatest.TruthRecord) bool, cmp func(a, b coupatest.TruthRecord) int, offset, limit int) []int64 {
		var sel []coupatest.TruthRecord
		for _, r := range all {
			if keep(r) {
				sel = append(sel, r)
			}
		}
		slices.SortFunc(sel, cmp)
		var ids []int64
		for i := offset; i < len(sel) && len(ids) < limit; i++ {
			ids = append(ids, sel[i].ID)
		}
		return ids
	}
	any := func(coupatest.TruthRecord) bool { return true }
	desc := func(a, b coupatest.TruthRecord) int { return byID(b, a) }

	for _, tc := range []struct {
		name string
		q    coupa.Query
		want []int64
	}{
		{"limit above 50 is capped", coupa.Query{OrderBy: "id", Limit: 500}, pick(any, byID, 0, 50)},
		{"zero limit means 50", coupa.Query{OrderBy: "id"}, pick(any, byID, 0, 50)},
		{"limit and offset", coupa.Query{OrderBy: "id", Limit: 7, Offset: 10}, pick(any, byID, 10, 7)},
		{"offset past the end is empty", coupa.Query{OrderBy: "id", Offset: len(all)}, nil},
		{"order by id desc", coupa.Query{OrderBy: "id", Desc: true, Limit: 20}, pick(any, desc, 0, 20)},
		{"order by updated_at", coupa.Query{OrderBy: "updated_at", Limit: 30, Offset: 5}, pick(any, byUpdated, 5, 30)},
		{"updated_at gt_or_eq", coupa.Query{OrderBy: "id", Filters: []coupa.Filter{
			{Attr: "updated_at", Op: coupa.GtOrEq, Value: coupa.FormatTime(mid.UpdatedAt)},
		}}, pick(func(r coupatest.TruthRecord) bool { return !r.UpdatedAt.Before(mid.UpdatedAt) }, byID, 0, 50)},
		{"id gt", coupa.Query{OrderBy: "id", Filters: []coupa.Filter{
			{Attr: "id", Op: coupa.Gt, Value: strconv.FormatInt(pivot, 10)},
		}}, pick(func(r coupatest.TruthRecord) bool { return r.ID > pivot }, byID, 0, 50)},
		{"exact updated_at, first page of the tie", coupa.Query{OrderBy: "id", Filters: []coupa.Filter{
			{Attr: "updated_at", Value: coupa.FormatTime(tie)},
		}}, pick(func(r coupatest.TruthRecord) bool { return r.UpdatedAt.Equal(tie) }, byID, 0, 50)},
		{"the tie drained with bounds and an id cursor", coupa.Query{OrderBy: "id", Filters: []coupa.Filter{
			{Attr: "updated_at", Op: coupa.GtOrEq, Value: coupa.FormatTime(tie)},
			{Attr: "updated_at", Op: coupa.LtOrEq, Value: coupa.FormatTime(tie)},
			{Attr: "id", Op: coupa.Gt, Value: strconv.FormatInt(pick(func(r coupatest.TruthRecord) bool { return r.UpdatedAt.Equal(tie) }, byID, 0, 50)[49], 10)},
		}}, pick(func(r coupatest.TruthRecord) bool { return r.UpdatedAt.Equal(tie) }, byID, 50, 50)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.List(t.Context(), inv, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range p.Records {
				got = append(got, r.ID)
				tr := truth[r.ID]
				if string(r.Raw) != string(tr.JSON) {
					t.Fatalf("record %d differs from what the instance rendered:\n got %.200s\nwant %.200s", r.ID, r.Raw, tr.JSON)
				}
				if !r.UpdatedAt.Equal(tr.UpdatedAt) || r.UpdatedAt.Location() != time.UTC {
					t.Errorf("record %d: UpdatedAt %v, want %v in UTC", r.ID, r.UpdatedAt, tr.UpdatedAt)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ids\n got %v\nwant %v", got, tc.want)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		p, err := c.List(t.Context(), inv, coupa.Query{OrderBy: "id", Limit: 5, Fields: `["id","updated-at",{"supplier":["id"]}]`})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 5 {
			t.Fatalf("%d records, want 5", len(p.Records))
		}
		for _, r := range p.Records {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Raw, &m); err != nil {
				t.Fatal(err)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range m {
					if !yield(k) {
						return
					}
				}
			})
			if !slices.Equal(keys, []string{"id", "supplier", "updated-at"}) {
				t.Errorf("record %d has keys %v, want only the fields asked for", r.ID, keys)
			}
			if !r.UpdatedAt.Equal(truth[r.ID].UpdatedAt) {
				t.Errorf("record %d: UpdatedAt %v, want %v", r.ID, r.UpdatedAt, truth[r.ID].UpdatedAt)
			}
		}
	})
}

// TestListEveryTableVerbatim pages through all eight tables and compares
// every record with the instance's rendering byte for byte: a client that
// decoded into structs or maps and re-encoded would lose key order, exact
// numbers or unknown keys, and fail here.
func TestListEveryTableVerbatim(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	c := newClient(t, sim, nil)
	for _, tb := range coupa.DefaultTables {
		t.Run(tb.Name, func(t *testing.T) {
			t.Parallel()
			truth := sim.Truth(tb.Name)
			recs, err := listAll(t.Context(), c, tb)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(truth) || len(recs) == 0 {
				t.Fatalf("listed %d records, the instance has %d", len(recs), len(truth))
			}
			hyphenated := false
			for _, r := range recs {
				want, ok := truth[r.ID]
				if !ok {
					t.Fatalf("record %d is not in %s", r.ID, tb.Name)
				}
				if string(r.Raw) != string(want.JSON) {
					t.Fatalf("record %d differs:\n got %.300s\nwant %.300s", r.ID, r.Raw, want.JSON)
				}
				hyphenated = hyphenated || strings.Contains(string(r.Raw), `"created-at":`)
			}
			if !hyphenated {
				t.Errorf("no record carries the hyphenated key created-at")
			}
		})
	}
}

// TestPageDateIsInstanceClock: Page.Date must come from the instance (its
// Date header), so a pass bounded by it cannot skip records when this host's
// clock is behind or ahead.
func TestPageDateIsInstanceClock(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	c := newClient(t, sim, nil)
	for _, skew := range []time.Duration{0, 90 * time.Second, -3 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			sim.SetSkew(skew)
			before := sim.Now()
			p, err := c.List(t.Context(), table(t, "users"), coupa.Query{Limit: 1})
			after := sim.Now()
			if err != nil {
				t.Fatal(err)
			}
			if p.Date.Before(before) || p.Date.After(after) || p.Date.Location() != time.UTC {
				t.Errorf("Page.Date %v is not the instance's clock (between %v and %v), or not UTC", p.Date, before, after)
			}
		})
	}
}

// TestAcceptJSON: Coupa answers XML to a request that does not ask for JSON.
// The client must ask on every request; the control case (Accept removed on
// the way) shows the simulator would catch a client that did not.
func TestAcceptJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		edit    func(*http.Request)
		wantErr []string
	}{
		{name: "as sent by the client"},
		{name: "Accept removed on the way", edit: func(r *http.Request) { r.Header.Del("Accept") }, wantErr: []string{"HTTP 200", "application/xml", "not JSON", "<?xml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			hc, w := tap(sim)
			w.edit = tc.edit
			c := newClient(t, sim, func(cfg *coupa.Config) { cfg.HTTPClient = hc })
			for _, tb := range coupa.DefaultTables {
				p, err := c.List(t.Context(), tb, coupa.Query{OrderBy: "id", Limit: 3})
				if tc.wantErr != nil {
					if err == nil {
						t.Fatalf("%s: XML answer gave a page of %d records", tb.Name, len(p.Records))
					}
					mustContainAll(t, err.Error(), tc.wantErr...)
					if coupa.IsTemporary(err) {
						t.Errorf("%s: an XML answer is not worth retrying: %v", tb.Name, err)
					}
					continue
				}
				if err != nil || len(p.Records) != 3 {
					t.Fatalf("%s: %d records, %v", tb.Name, len(p.Records), err)
				}
			}
			if tc.wantErr != nil {
				return
			}
			n := 0
			for _, r := range w.requests() {
				if strings.HasPrefix(r.Path, "/api/") {
					n++
					if got := r.Header.Get("Accept"); got != "application/json" {
						t.Errorf("%s sent Accept %q", r.Path, got)
					}
				}
			}
			if n != len(coupa.DefaultTables) {
				t.Errorf("saw %d list requests, want %d", n, len(coupa.DefaultTables))
			}
		})
	}
}

// TestNoRedirects: a user-supplied instance URL must not bounce credentials
// to another host. The origin redirects to a second server that would accept
// anything; the client's own http.Client would follow (httptest's does), so
// only the coupa client's refusal keeps the target from hearing anything.
func TestNoRedirects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		path   string // which endpoint redirects
		status int
		want   []string
	}{
		{"list 301", "/api/invoices", http.StatusMovedPermanently, []string{"HTTP 301", "redirect"}},
		{"list 302", "/api/invoices", http.StatusFound, []string{"HTTP 302", "redirect"}},
		{"list 307", "/api/invoices", http.StatusTemporaryRedirect, []string{"HTTP 307", "redirect"}},
		{"list 308", "/api/invoices", http.StatusPermanentRedirect, []string{"HTTP 308", "redirect"}},
		{"token 302", "/oauth2/token", http.StatusFound, []string{"HTTP 302", "token endpoint", "redirect"}},
		{"token 307", "/oauth2/token", http.StatusTemporaryRedirect, []string{"HTTP 307", "token endpoint", "redirect"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var leaked []string
			target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				mu.Lock()
				leaked = append(leaked, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization")+" form="+r.PostForm.Encode())
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/oauth2/token" {
					w.Write([]byte(`{"access_token":"tok-from-target","token_type":"bearer","expires_in":3600}`))
					return
				}
				w.Write([]byte(`[]`))
			}))
			defer target.Close()
			var originHits int
			origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				originHits++
				mu.Unlock()
				if r.URL.Path == tc.path {
					http.Redirect(w, r, target.URL+r.URL.RequestURI(), tc.status)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"tok-from-origin","token_type":"bearer","expires_in":3600}`))
			}))
			defer origin.Close()
			hc := origin.Client() // trusts target too (same test certificate) and follows redirects
			c, err := coupa.New(coupa.Config{
				InstanceURL: origin.URL, ClientID: "id", ClientSecret: "s3cret-value",
				HTTPClient: hc, RequestTimeout: 2 * time.Second, MaxRetryTime: time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{})
			if err == nil {
				t.Fatalf("a redirect gave a page of %d records", len(p.Records))
			}
			mustContainAll(t, err.Error(), tc.want...)
			if coupa.IsTemporary(err) {
				t.Errorf("a redirect is not worth retrying: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(leaked) > 0 {
				t.Errorf("the redirect target was contacted: %q", leaked)
			}
			want := 2 // a token request and a list request
			if tc.path == "/oauth2/token" {
				want = 1
			}
			if originHits != want {
				t.Errorf("origin saw %d requests, want %d: a redirect is neither followed nor retried", originHits, want)
			}
			if hc.CheckRedirect != nil {
				t.Errorf("New changed the caller's http.Client")
			}
		})
	}
}

// TestListErrorsNotRetried: a 400 on a list call is a bad query (a bug), a
// 404 a wrong path; neither can succeed later, so neither is retried, and
// the error carries Coupa's message.
func TestListErrorsNotRetried(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	c := newClient(t, sim, nil)
	for _, tc := range []struct {
		name  string
		table coupa.Table
		q     coupa.Query
		want  []string
	}{
		{"unknown filter attribute", table(t, "invoices"), coupa.Query{Filters: []coupa.Filter{{Attr: "no_such_attr", Value: "1"}}}, []string{"HTTP 400", "no_such_attr"}},
		{"unknown order_by", table(t, "invoices"), coupa.Query{OrderBy: "no_such_attr"}, []string{"HTTP 400", "order_by"}},
		{"unknown path", coupa.Table{Name: "nothing", Path: "/api/nothing", Scope: "core.invoice.read"}, coupa.Query{}, []string{"HTTP 404", "No route"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim.ResetStats()
			_, err := c.List(t.Context(), tc.table, tc.q)
			if err == nil || coupa.IsTemporary(err) {
				t.Fatalf("got %v, want a permanent error", err)
			}
			mustContainAll(t, err.Error(), tc.want...)
			st := sim.Stats()
			if n := st.Total(tc.table.Name, 0) + st.Total("other", 0); n != 1 {
				t.Errorf("the instance saw %d requests, want 1 (no retries)", n)
			}
		})
	}
}
