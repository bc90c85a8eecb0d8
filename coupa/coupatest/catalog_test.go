package coupatest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// catalogServer has n records in every table of the catalog.
func catalogServer(t *testing.T, n int, mod func(*coupatest.Config)) *coupatest.Server {
	return newServer(t, func(c *coupatest.Config) {
		c.Records = map[string]int{}
		for _, tb := range coupa.Catalog {
			c.Records[tb.Name] = n
		}
		if mod != nil {
			mod(c)
		}
	})
}

// page lists path once and returns the raw records.
func page(t testing.TB, s *coupatest.Server, tok, path string, q url.Values) []json.RawMessage {
	t.Helper()
	r := get(t, s, tok, path, q)
	if r.status != http.StatusOK {
		t.Fatalf("%s?%s: status %d: %s", path, q.Encode(), r.status, r.body)
	}
	var out []json.RawMessage
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%s: not a JSON array: %v", path, err)
	}
	return out
}

func idOf(t testing.TB, raw json.RawMessage) int64 {
	t.Helper()
	var r struct{ ID int64 }
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == 0 {
		t.Fatalf("no id in %.100s", raw)
	}
	return r.ID
}

// byIDKeyset reads path whole in id order by keyset on id, as a full
// refresh does: id[gt]=<last id of the previous page>.
func byIDKeyset(t testing.TB, s *coupatest.Server, tok, path string) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	last := int64(0)
	for {
		p := page(t, s, tok, path, url.Values{"order_by": {"id"}, "id[gt]": {strconv.FormatInt(last, 10)}})
		if len(p) == 0 {
			return all
		}
		all = append(all, p...)
		last = idOf(t, p[len(p)-1])
	}
}

// byUpdatedAt reads path whole in updated_at order by offset (nothing
// changes meanwhile).
func byUpdatedAt(t testing.TB, s *coupatest.Server, tok, path string) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	for off := 0; ; off += 50 {
		p := page(t, s, tok, path, url.Values{"order_by": {"updated_at"}, "updated_at[gt_or_eq]": {"2000-01-01"}, "offset": {strconv.Itoa(off)}})
		all = append(all, p...)
		if len(p) < 50 {
			return all
		}
	}
}

// sameAsTruth checks that recs are exactly table's truth, byte for byte,
// each once, in the order less gives (nil: any order).
func sameAsTruth(t testing.TB, s *coupatest.Server, table string, recs []json.RawMessage, less func(a, b coupatest.TruthRecord) bool) {
	t.Helper()
	truth := s.Truth(table)
	if len(recs) != len(truth) {
		t.Fatalf("%s: listed %d records, truth has %d", table, len(recs), len(truth))
	}
	var prev coupatest.TruthRecord
	for i, raw := range recs {
		id := idOf(t, raw)
		want, ok := truth[id]
		if !ok {
			t.Fatalf("%s: listed %d twice or it is not in truth", table, id)
		}
		if string(raw) != string(want.JSON) {
			t.Fatalf("%s %d: listed\n%s\ntruth\n%s", table, id, raw, want.JSON)
		}
		if i > 0 && less != nil && !less(prev, want) {
			t.Fatalf("%s: %d listed after %d, out of order", table, id, prev.ID)
		}
		prev = want
		delete(truth, id)
	}
}

func byID(a, b coupatest.TruthRecord) bool { return a.ID < b.ID }

func byUpdated(a, b coupatest.TruthRecord) bool {
	return a.UpdatedAt.Before(b.UpdatedAt) || a.UpdatedAt.Equal(b.UpdatedAt) && a.ID < b.ID
}

// The zero Config serves every catalog table with DefaultRecords, in id
// ranges no two tables share.
func TestZeroConfigServesTheCatalog(t *testing.T) {
	s, err := coupatest.New(coupatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts := s.Counts()
	if len(counts) != len(coupa.Catalog) {
		t.Fatalf("Counts has %d tables, the catalog %d", len(counts), len(coupa.Catalog))
	}
	owner := map[int64]string{}
	for _, tb := range coupa.Catalog {
		if counts[tb.Name] != coupatest.DefaultRecords {
			t.Errorf("%s: %d records, want %d", tb.Name, counts[tb.Name], coupatest.DefaultRecords)
		}
		for _, st := range s.States(tb.Name) {
			if o, dup := owner[st.ID]; dup {
				t.Fatalf("id %d is in %s and %s", st.ID, o, tb.Name)
			}
			owner[st.ID] = tb.Name
		}
	}
}

// A table of more records than the usual 1000-id stride still keeps its
// ids to itself.
func TestBigTablesKeepDistinctIDs(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.Records = map[string]int{"invoices": 1500, "purchase_orders": 10, "currencies": 10}
	})
	inv, po := s.States("invoices"), s.States("purchase_orders")
	if last := inv[len(inv)-1].ID; last >= po[0].ID {
		t.Fatalf("invoices reach %d, purchase orders start at %d", last, po[0].ID)
	}
	if cur := s.States("currencies"); cur[0].ID != 1 || cur[len(cur)-1].ID >= inv[0].ID {
		t.Fatalf("currencies %d..%d, invoices from %d", cur[0].ID, cur[len(cur)-1].ID, inv[0].ID)
	}
}

// Every catalog table lists at its Path as the default client: whole in id
// order by keyset on id, and in updated_at order where it has one, each
// record exactly its truth.
func TestEveryCatalogTableLists(t *testing.T) {
	s := catalogServer(t, 60, nil)
	tok := token(t, s, "")
	for _, tb := range coupa.Catalog {
		t.Run(tb.Name, func(t *testing.T) {
			sameAsTruth(t, s, tb.Name, byIDKeyset(t, s, tok, tb.Path), byID)
			if tb.HasUpdatedAt() {
				sameAsTruth(t, s, tb.Name, byUpdatedAt(t, s, tok, tb.Path), byUpdated)
			}
		})
	}
}

// Records are found at Path/<id> also where the path has several segments
// (what coupa.Client.Exists asks), and a path is matched whole: the last
// segment alone names no table.
func TestShowOnMultiSegmentPaths(t *testing.T) {
	s := catalogServer(t, 5, nil)
	tok := token(t, s, "")
	for _, name := range []string{"payables_invoices", "asn_headers", "payables_external_payables", "payables_order_reconciliation_lines", "coupa_pay_invoices"} {
		tb, _ := coupa.LookupTable(name)
		id := s.States(name)[2].ID
		want, _ := s.Record(name, id)
		path := fmt.Sprintf("%s/%d", tb.Path, id)
		r := get(t, s, tok, path, url.Values{"fields": {`["id"]`}})
		if r.status != http.StatusOK || string(r.body) != string(want.JSON) {
			t.Fatalf("%s: %d %.100s, want the record", path, r.status, r.body)
		}
		if err := s.Delete(name, id); err != nil {
			t.Fatal(err)
		}
		if r := get(t, s, tok, path, nil); r.status != http.StatusNotFound {
			t.Fatalf("%s after delete: status %d, want 404", path, r.status)
		} else {
			r.errorsBody(t)
		}
	}
	// /api/invoices is the invoices, /api/payables/invoices the payables.
	inv := s.States("invoices")[0].ID
	if r := get(t, s, tok, fmt.Sprintf("/api/payables/invoices/%d", inv), nil); r.status != http.StatusNotFound {
		t.Errorf("an invoice's id under /api/payables/invoices: status %d, want 404", r.status)
	}
	for _, path := range []string{"/api/payables", "/api/asn", "/api/headers", "/api/payables/7"} {
		if r := get(t, s, tok, path, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, r.status)
		}
	}
}

// The default client holds every catalog scope; a token without a table's
// scope gets 403 at its path.
func TestCatalogScopes(t *testing.T) {
	all := coupatest.AllScopes()
	for _, tb := range coupa.Catalog {
		if !slices.Contains(all, tb.Scope) {
			t.Errorf("AllScopes lacks %s's %s", tb.Name, tb.Scope)
		}
	}
	if c := slices.Compact(slices.Sorted(slices.Values(all))); len(c) != len(all) {
		t.Errorf("AllScopes repeats scopes: %v", all)
	}
	s := catalogServer(t, 3, nil)
	inv := token(t, s, "core.invoice.read")
	if r := get(t, s, inv, "/api/invoices", nil); r.status != http.StatusOK {
		t.Fatalf("invoices with core.invoice.read: %d", r.status)
	}
	for _, path := range []string{"/api/payables/invoices", "/api/currencies", "/api/asn/headers"} {
		r := get(t, s, inv, path, nil)
		if r.status != http.StatusForbidden {
			t.Fatalf("%s with core.invoice.read: status %d, want 403", path, r.status)
		}
	}
	pay := token(t, s, "core.payables.invoice.read")
	if r := get(t, s, pay, "/api/payables/invoices", nil); r.status != http.StatusOK {
		t.Fatalf("payables invoices with their scope: %d %s", r.status, r.body)
	}
}

// Tables whose definition has no updated-at render none, refuse it as a
// filter or order (a sync that asks is a bug) and list by id.
func TestTablesWithoutUpdatedAt(t *testing.T) {
	s := catalogServer(t, 12, nil)
	tok := token(t, s, "")
	for _, tb := range coupa.Catalog {
		if tb.HasUpdatedAt() {
			continue
		}
		for _, rec := range s.Truth(tb.Name) {
			if strings.Contains(string(rec.JSON), `"updated-at"`) {
				t.Fatalf("%s %d renders updated-at: %s", tb.Name, rec.ID, rec.JSON)
			}
		}
		for _, q := range []url.Values{
			{"updated_at[gt]": {"2024-01-01T00:00:00Z"}},
			{"updated-at[gt_or_eq]": {"2024-01-01T00:00:00Z"}},
			{"order_by": {"updated_at"}},
		} {
			r := get(t, s, tok, tb.Path, q)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%s?%s: status %d, want 400", tb.Name, q.Encode(), r.status)
			}
			errs := r.errorsBody(t)
			if len(errs["updated_at"])+len(errs["updated-at"])+len(errs["order_by"]) == 0 {
				t.Fatalf("%s?%s: error %s does not name the attribute", tb.Name, q.Encode(), r.body)
			}
		}
		got := page(t, s, tok, tb.Path, url.Values{"order_by": {"id"}, "id[gt]": {strconv.FormatInt(s.States(tb.Name)[4].ID, 10)}})
		if len(got) != 7 || idOf(t, got[0]) != s.States(tb.Name)[5].ID {
			t.Fatalf("%s: id[gt] listed %d records", tb.Name, len(got))
		}
	}
	// Currencies have no created-at either; budget line adjustments do.
	if r := get(t, s, tok, "/api/currencies", url.Values{"created_at[gt]": {"2024-01-01"}}); r.status != http.StatusBadRequest {
		t.Errorf("currencies by created_at: status %d, want 400", r.status)
	}
	if r := get(t, s, tok, "/api/budget_line_adjustments", url.Values{"created_at[gt]": {"2000-01-01"}}); r.status != http.StatusOK {
		t.Errorf("budget line adjustments by created_at: status %d, want 200", r.status)
	}
	// XML (no Accept: application/json) shows no updated-at either.
	req, _ := http.NewRequest("GET", s.URL()+"/api/currencies", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if r := do(t, s, req); r.status != http.StatusOK || strings.Contains(string(r.body), "updated-at") || !strings.Contains(string(r.body), "<currency>") {
		t.Errorf("currencies as XML: %d %.200s", r.status, r.body)
	}
}

// Currencies are the ones records point at: an association's id exists in
// the currencies table and carries its code and name.
func TestCurrencyAssociationsMatchTheTable(t *testing.T) {
	s := catalogServer(t, 30, nil)
	cur := s.Truth("currencies")
	codes := map[string]bool{}
	for _, c := range cur {
		var v struct{ Code string }
		json.Unmarshal(c.JSON, &v)
		if codes[v.Code] {
			t.Fatalf("currency code %s twice", v.Code)
		}
		codes[v.Code] = true
	}
	checked := 0
	for _, tr := range s.Truth("invoices") {
		var inv struct {
			Currency *struct {
				ID   int64
				Code string
				Name string
			}
		}
		json.Unmarshal(tr.JSON, &inv)
		if inv.Currency == nil {
			continue
		}
		var c struct{ Code, Name string }
		target, ok := cur[inv.Currency.ID]
		if !ok {
			t.Fatalf("invoice %d points at missing currency %d", tr.ID, inv.Currency.ID)
		}
		json.Unmarshal(target.JSON, &c)
		if c.Code != inv.Currency.Code || c.Name != inv.Currency.Name {
			t.Fatalf("currency %d is %s %q, invoice says %s %q", inv.Currency.ID, c.Code, c.Name, inv.Currency.Code, inv.Currency.Name)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no invoice has a currency")
	}
}

// Budget lines' updated-at is unreliable: most updates change the content
// and keep the updated-at, and listings (by id and by updated_at) still
// show exactly the truth.
func TestBudgetLineUpdatesKeepUpdatedAt(t *testing.T) {
	s := catalogServer(t, 40, nil)
	s.SetSkew(24 * time.Hour) // now is well after every seeded updated-at
	tok := token(t, s, "")
	kept := 0
	const updates = 12
	for i := 0; i < updates; i++ {
		id := s.States("budget_lines")[i%4].ID
		before, _ := s.Record("budget_lines", id)
		at, err := s.Update("budget_lines", id)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := s.Record("budget_lines", id)
		if string(after.JSON) == string(before.JSON) || after.Version != before.Version+1 {
			t.Fatalf("update %d of %d: content did not change", i, id)
		}
		if !after.UpdatedAt.Equal(at) {
			t.Fatalf("Update returned %v, truth says %v", at, after.UpdatedAt)
		}
		if at.Equal(before.UpdatedAt) {
			kept++
		} else if at.Before(s.Now().Add(-time.Minute)) || at.After(s.Now()) {
			t.Fatalf("a moved updated-at %v is not now %v", at, s.Now())
		}
	}
	if kept < updates/2 || kept == updates {
		t.Fatalf("%d of %d updates kept the updated-at, want most but not all", kept, updates)
	}
	sameAsTruth(t, s, "budget_lines", byIDKeyset(t, s, tok, "/api/budget_lines"), byID)
	sameAsTruth(t, s, "budget_lines", byUpdatedAt(t, s, tok, "/api/budget_lines"), byUpdated)
	// Other tables' updates always move it; currencies' just change content.
	if at, _ := s.Update("accounts", s.States("accounts")[0].ID); at.Before(s.Now().Add(-time.Minute)) {
		t.Errorf("an account's update stamped %v, not now", at)
	}
	id := s.States("currencies")[0].ID
	before, _ := s.Record("currencies", id)
	if _, err := s.Update("currencies", id); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Record("currencies", id); string(after.JSON) == string(before.JSON) {
		t.Errorf("a currency's update did not change it: %s", after.JSON)
	}
}

// Churn works over any catalog tables (several-segment paths, full
// refresh, no updated-at, unreliable updated-at, an empty one), deletes
// included, and listings afterwards equal the truth.
func TestChurnOverCatalogTables(t *testing.T) {
	tables := []string{"payables_invoices", "asn_headers", "currencies", "budget_lines", "budget_line_adjustments", "accounts", "exchange_rates"}
	s := newServer(t, func(c *coupatest.Config) {
		c.Deletes = true
		c.Records = map[string]int{}
		for _, name := range tables {
			c.Records[name] = 30
		}
		delete(c.Records, "exchange_rates") // starts empty: only inserts
	})
	tok := token(t, s, "")
	before := map[string]map[int64]coupatest.TruthRecord{}
	for _, name := range tables {
		before[name] = s.Truth(name)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { s.Churn(stop, time.Millisecond, tables...); close(done) }()
	for i := 0; i < 5; i++ { // list while churning: no race, no panic
		for _, name := range tables {
			tb, _ := coupa.LookupTable(name)
			page(t, s, tok, tb.Path, url.Values{"order_by": {"id"}})
		}
		time.Sleep(40 * time.Millisecond)
	}
	close(stop)
	<-done
	changed := 0
	for _, name := range tables {
		tb, _ := coupa.LookupTable(name)
		tok := token(t, s, "") // Churn expires tokens now and then
		sameAsTruth(t, s, name, byIDKeyset(t, s, tok, tb.Path), byID)
		if tb.HasUpdatedAt() {
			sameAsTruth(t, s, name, byUpdatedAt(t, s, tok, tb.Path), byUpdated)
		}
		for _, id := range s.Deleted(name) {
			if r := get(t, s, tok, fmt.Sprintf("%s/%d", tb.Path, id), nil); r.status != http.StatusNotFound {
				t.Fatalf("%s deleted %d: status %d", name, id, r.status)
			}
		}
		for id, tr := range s.Truth(name) {
			if b, ok := before[name][id]; !ok || b.Version != tr.Version {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatal("churn changed nothing")
	}
	if s.Count("exchange_rates") == 0 {
		t.Error("churn inserted nothing into the empty table")
	}
}
