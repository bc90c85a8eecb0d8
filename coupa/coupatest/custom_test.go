package coupatest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

var plainDate = regexp.MustCompile(`^\d{4}-\d\d-\d\d$`)

// checkCustom checks that v (not null) is a value of kind k as Coupa
// renders it, and for a user that it is the users table's user.
func checkCustom(k coupatest.CustomFieldKind, v json.RawMessage, users map[int64]coupatest.TruthRecord) error {
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return err
	}
	switch k {
	case coupatest.CustomText:
		if s, ok := x.(string); !ok || s == "" {
			return fmt.Errorf("not text")
		}
	case coupatest.CustomBool:
		if _, ok := x.(bool); !ok {
			return fmt.Errorf("not a boolean")
		}
	case coupatest.CustomInteger:
		n, ok := x.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			return fmt.Errorf("not an integer")
		}
	case coupatest.CustomNumber:
		n, ok := x.(json.Number)
		f, err := n.Float64()
		if !ok || err != nil || !strings.Contains(string(n), ".") || f*4 != float64(int64(f*4)) || len(string(n))-strings.IndexByte(string(n), '.') > 3 {
			return fmt.Errorf("not a number with at most 2 exact decimals")
		}
	case coupatest.CustomDate:
		if s, ok := x.(string); !ok || !plainDate.MatchString(s) {
			return fmt.Errorf("not a date")
		}
	case coupatest.CustomDatetime:
		if s, ok := x.(string); !ok || !localTime.MatchString(s) {
			return fmt.Errorf("not a datetime in the instance's offset")
		}
	case coupatest.CustomLookup:
		o, ok := x.(map[string]any)
		if !ok || len(o) != 4 || o["active"] != true {
			return fmt.Errorf("not a lookup value")
		}
		if _, err := o["id"].(json.Number).Int64(); err != nil {
			return fmt.Errorf("lookup id: %v", err)
		}
		for _, key := range []string{"name", "external-ref-num"} {
			if s, _ := o[key].(string); s == "" {
				return fmt.Errorf("lookup without %s", key)
			}
		}
	case coupatest.CustomUser:
		o, ok := x.(map[string]any)
		if !ok || len(o) != 6 {
			return fmt.Errorf("not a user")
		}
		for _, key := range []string{"login", "email", "firstname", "lastname", "employee-number"} {
			if s, _ := o[key].(string); s == "" {
				return fmt.Errorf("user without %s", key)
			}
		}
		id, err := o["id"].(json.Number).Int64()
		if err != nil {
			return fmt.Errorf("user id: %v", err)
		}
		if users != nil {
			var u map[string]any
			if err := json.Unmarshal(users[id].JSON, &u); err != nil {
				return fmt.Errorf("user %d is not in the users table", id)
			}
			for _, key := range []string{"login", "email", "firstname", "lastname"} {
				if u[key] != o[key] {
					return fmt.Errorf("user %d's %s is %v, the users table says %v", id, key, o[key], u[key])
				}
			}
		}
	default:
		return fmt.Errorf("unknown kind %v", k)
	}
	return nil
}

// customTally checks the custom-fields of records against their kinds and
// counts, per key, the values that are not null.
type customTally struct {
	kinds  map[string]coupatest.CustomFieldKind
	values map[string]int
	nulls  map[string]int
}

func newTally(fields []coupatest.CustomField) *customTally {
	c := &customTally{kinds: map[string]coupatest.CustomFieldKind{}, values: map[string]int{}, nulls: map[string]int{}}
	for _, f := range fields {
		c.kinds[f.Key] = f.Kind
	}
	return c
}

func (c *customTally) add(t *testing.T, what string, cf json.RawMessage, users map[int64]coupatest.TruthRecord) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cf, &m); err != nil {
		t.Fatalf("%s: custom-fields %s: %v", what, cf, err)
	}
	if len(m) != len(c.kinds) {
		t.Fatalf("%s: custom-fields %s, want the keys %v", what, cf, c.kinds)
	}
	for k, v := range m {
		kind, ok := c.kinds[k]
		if !ok {
			t.Fatalf("%s: custom field %q is not the instance's", what, k)
		}
		if string(v) == "null" {
			c.nulls[k]++
			continue
		}
		if err := checkCustom(kind, v, users); err != nil {
			t.Fatalf("%s: custom field %q (%v) = %s: %v", what, k, kind, v, err)
		}
		c.values[k]++
	}
}

// Every table's headers carry a custom field of every kind, and every line
// text, boolean, number and lookup fields, each rendered as Coupa renders
// its kind, now and then null; instances with other seeds have other keys.
func TestCustomFieldsOfEveryKind(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.Records = map[string]int{}
		for _, tb := range coupa.Catalog {
			c.Records[tb.Name] = 30
		}
	})
	users := s.Truth("users")
	for _, tb := range coupa.Catalog {
		t.Run(tb.Name, func(t *testing.T) {
			fields, err := s.CustomFields(tb.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(fields) < 8 {
				t.Fatalf("%d custom fields: %v", len(fields), fields)
			}
			for _, k := range coupatest.CustomFieldKinds() {
				if !slices.ContainsFunc(fields, func(f coupatest.CustomField) bool { return f.Kind == k }) {
					t.Fatalf("no %v custom field: %v", k, fields)
				}
			}
			head := newTally(fields)
			var line *customTally
			if tb.Lines != "" {
				lf, err := s.LineCustomFields(tb.Name)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range []coupatest.CustomFieldKind{coupatest.CustomText, coupatest.CustomBool, coupatest.CustomNumber, coupatest.CustomLookup} {
					if !slices.ContainsFunc(lf, func(f coupatest.CustomField) bool { return f.Kind == k }) {
						t.Fatalf("lines have no %v custom field: %v", k, lf)
					}
				}
				line = newTally(lf)
			}
			for id, tr := range s.Truth(tb.Name) {
				var m map[string]json.RawMessage
				json.Unmarshal(tr.JSON, &m)
				head.add(t, fmt.Sprintf("record %d", id), m["custom-fields"], users)
				if line == nil {
					continue
				}
				var ls []map[string]json.RawMessage
				json.Unmarshal(m[tb.Lines], &ls)
				for i, l := range ls {
					line.add(t, fmt.Sprintf("record %d line %d", id, i+1), l["custom-fields"], users)
				}
			}
			for _, c := range []*customTally{head, line} {
				if c == nil {
					continue
				}
				nulls := 0
				for k := range c.kinds {
					if c.values[k] == 0 {
						t.Errorf("custom field %q (%v) is never set", k, c.kinds[k])
					}
					nulls += c.nulls[k]
				}
				if nulls == 0 {
					t.Errorf("no custom field is ever null")
				}
			}
		})
	}
	other := newServer(t, func(c *coupatest.Config) { c.Seed = 2; c.Records = map[string]int{"invoices": 1} })
	a, _ := s.CustomFields("invoices")
	b, _ := other.CustomFields("invoices")
	if slices.Equal(a, b) {
		t.Errorf("seeds 1 and 2 have the same custom fields: %v", a)
	}
	if _, err := s.CustomFields("no_such_table"); err == nil {
		t.Error("CustomFields of an unknown table: no error")
	}
}

// customOf returns the custom-fields object of a record body.
func customOf(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var rec struct {
		CF map[string]json.RawMessage `json:"custom-fields"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.CF
}

// servedInvoices lists every invoice through the API, full bodies, by id.
func servedInvoices(t *testing.T, s *coupatest.Server, tok string) map[int64]json.RawMessage {
	t.Helper()
	out := map[int64]json.RawMessage{}
	for off := 0; ; off += 50 {
		r := get(t, s, tok, "/api/invoices", url.Values{"order_by": {"id"}, "offset": {fmt.Sprint(off)}})
		var page []json.RawMessage
		if r.status != 200 || json.Unmarshal(r.body, &page) != nil {
			t.Fatalf("status %d: %.200s", r.status, r.body)
		}
		for _, p := range page {
			var rec struct{ ID int64 }
			json.Unmarshal(p, &rec)
			out[rec.ID] = p
		}
		if len(page) < 50 {
			return out
		}
	}
}

// AddCustomField: only versions written after the call render the key,
// whenever they are read and however they were written (update, insert,
// bulk edit, late write, pending write committed after); the API serves
// exactly Truth; another kind for the same key takes effect for later
// versions only; the same kind again changes nothing.
func TestAddCustomField(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 60, "users": 20} })
	tok := token(t, s, "")
	if err := s.AddCustomField("no_such_table", "x", coupatest.CustomText); err == nil {
		t.Error("AddCustomField on an unknown table: no error")
	}
	if err := s.AddCustomField("invoices", "x", coupatest.CustomFieldKind(99)); err == nil {
		t.Error("AddCustomField with an unknown kind: no error")
	}
	before := s.Truth("invoices")
	pending, err := s.BeginWrite("invoices", 1001)
	if err != nil {
		t.Fatal(err)
	}
	const key = "vendor-tier"
	if err := s.AddCustomField("invoices", key, coupatest.CustomLookup); err != nil {
		t.Fatal(err)
	}
	fields, _ := s.CustomFields("invoices")
	if i := slices.IndexFunc(fields, func(f coupatest.CustomField) bool { return f.Key == key }); i < 0 || fields[i].Kind != coupatest.CustomLookup {
		t.Fatalf("CustomFields after the call: %v", fields)
	}
	for id, tr := range s.Truth("invoices") {
		if !bytes.Equal(tr.JSON, before[id].JSON) {
			t.Fatalf("invoice %d's version %d changed with the call:\n%s\n%s", id, tr.Version, before[id].JSON, tr.JSON)
		}
	}
	// Writes after the call, of every sort.
	written := map[int64]bool{}
	for id := int64(1002); id < 1022; id++ {
		s.Update("invoices", id)
		written[id] = true
	}
	for _, id := range s.Insert("invoices", 10) {
		written[id] = true
	}
	bulk, _ := s.BulkUpdate("invoices", 5)
	for _, id := range bulk {
		written[id] = true
	}
	s.LateWrite("invoices", 1040, 30*time.Second)
	written[1040] = true
	pending.Commit()
	written[1001] = true

	check := func(key string, kind coupatest.CustomFieldKind, after map[int64]bool) {
		t.Helper()
		truth := s.Truth("invoices")
		served := servedInvoices(t, s, tok)
		users := s.Truth("users")
		values := 0
		for id, tr := range truth {
			if !bytes.Equal(served[id], tr.JSON) {
				t.Fatalf("invoice %d: the API serves\n%s\nTruth says\n%s", id, served[id], tr.JSON)
			}
			if rec, _ := s.Record("invoices", id); !bytes.Equal(rec.JSON, tr.JSON) {
				t.Fatalf("invoice %d: Record and Truth differ", id)
			}
			v, has := customOf(t, tr.JSON)[key]
			if has != after[id] {
				t.Fatalf("invoice %d (version %d): has %q = %v, written after the call = %v", id, tr.Version, key, has, after[id])
			}
			if has && string(v) != "null" {
				if err := checkCustom(kind, v, users); err != nil {
					t.Fatalf("invoice %d: %q = %s: %v", id, key, v, err)
				}
				values++
			}
		}
		if values < len(after)/2 {
			t.Fatalf("%q has %d values in %d versions written after the call", key, values, len(after))
		}
	}
	check(key, coupatest.CustomLookup, written)

	// The same key and kind again: nothing changes.
	snap := s.Truth("invoices")
	s.AddCustomField("invoices", key, coupatest.CustomLookup)
	if again, _ := s.CustomFields("invoices"); !slices.Equal(again, fields) {
		t.Fatalf("re-adding the same field changed the fields: %v", again)
	}
	for id := range written {
		s.Update("invoices", id)
	}
	for id, tr := range s.Truth("invoices") {
		if written[id] {
			if a, b := customOf(t, tr.JSON)[key], customOf(t, snap[id].JSON)[key]; a == nil || b == nil {
				t.Fatalf("invoice %d lost %q", id, key)
			}
		}
	}

	// Another kind: later versions only. Versions written before keep
	// their lookup objects.
	if err := s.AddCustomField("invoices", key, coupatest.CustomText); err != nil {
		t.Fatal(err)
	}
	retyped := map[int64]bool{1050: true, 1051: true, 1052: true}
	for id := range retyped {
		s.Update("invoices", id)
	}
	all := map[int64]bool{}
	for id := range written {
		all[id] = true
	}
	for id := range retyped {
		all[id] = true
	}
	truth := s.Truth("invoices")
	texts, lookups := 0, 0
	for id := range all {
		v := customOf(t, truth[id].JSON)[key]
		switch {
		case string(v) == "null":
		case retyped[id]:
			if checkCustom(coupatest.CustomText, v, nil) != nil {
				t.Fatalf("invoice %d written after the kind change: %q = %s", id, key, v)
			}
			texts++
		default:
			if checkCustom(coupatest.CustomLookup, v, nil) != nil {
				t.Fatalf("invoice %d written before the kind change: %q = %s", id, key, v)
			}
			lookups++
		}
	}
	if texts == 0 || lookups == 0 {
		t.Fatalf("%d texts, %d lookups", texts, lookups)
	}

	// An instance's own field re-created with another kind.
	own := fields[0]
	other := coupatest.CustomUser
	if own.Kind == other {
		other = coupatest.CustomInteger
	}
	s.AddCustomField("invoices", own.Key, other)
	retyped = map[int64]bool{}
	for id := int64(1060); id < 1070; id++ {
		s.Update("invoices", id)
		retyped[id] = true
	}
	truth = s.Truth("invoices")
	changed := 0
	for id, tr := range truth {
		v := customOf(t, tr.JSON)[own.Key]
		kind := own.Kind
		if retyped[id] {
			kind = other
		}
		if string(v) == "null" {
			continue
		}
		if err := checkCustom(kind, v, nil); err != nil {
			t.Fatalf("invoice %d (re-typed %v): %q = %s: %v", id, retyped[id], own.Key, v, err)
		}
		if retyped[id] {
			changed++
		}
	}
	if changed == 0 {
		t.Fatalf("no version shows %q as %v", own.Key, other)
	}

	// Filters see the key as each version renders it: absent before the
	// call, a lookup's id, then text.
	want := map[int64]bool{}
	for id, tr := range truth {
		if v, ok := customOf(t, tr.JSON)[key]; ok && string(v) != "null" {
			want[id] = true
		}
	}
	got := map[int64]bool{}
	for _, rec := range listAll(t, s, tok, "/api/invoices", url.Values{"custom_fields[vendor_tier][blank]": {"false"}}) {
		got[int64(rec["id"].(float64))] = true
	}
	if len(want) == 0 || !maps.Equal(got, want) {
		t.Errorf("filter on %q not blank matched %v, want %v", key, got, want)
	}
}

// AddCustomField is safe while records are written and rendered.
func TestAddCustomFieldConcurrent(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 50} })
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for id, tr := range s.Truth("invoices") {
				var rec struct {
					CF map[string]json.RawMessage `json:"custom-fields"`
				}
				if json.Unmarshal(tr.JSON, &rec) != nil || len(rec.CF) < 8 {
					t.Errorf("invoice %d: %s", id, tr.JSON)
					return
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			s.Update("invoices", 1001+int64(i%50))
		}
	}()
	for i := 0; i < 40; i++ {
		if err := s.AddCustomField("invoices", fmt.Sprintf("k%d", i%10), coupatest.CustomFieldKind(i%8)); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// addedFields returns the custom fields tables gained since before.
func addedFields(s *coupatest.Server, before map[string][]coupatest.CustomField) map[string][]coupatest.CustomField {
	out := map[string][]coupatest.CustomField{}
	for table, fs := range before {
		now, _ := s.CustomFields(table)
		for _, f := range now[len(fs):] {
			out[table] = append(out[table], f)
		}
	}
	return out
}

// Churn adds a new custom field mid-way (after some steps, not at once):
// records written before keep no such key, later ones have it. More with
// Config.ChurnCustomFields, of other kinds; none when it is negative.
func TestChurnAddsCustomFieldMidway(t *testing.T) {
	tables := []string{"invoices", "suppliers"}
	start := func(n int, pace time.Duration) (*coupatest.Server, map[string][]coupatest.CustomField, chan struct{}, chan struct{}) {
		s := newServer(t, func(c *coupatest.Config) {
			c.Records = map[string]int{"invoices": 40, "suppliers": 40}
			c.ChurnCustomFields = n
		})
		before := map[string][]coupatest.CustomField{}
		for _, tb := range tables {
			before[tb], _ = s.CustomFields(tb)
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go func() { s.Churn(stop, pace, tables...); close(done) }()
		return s, before, stop, done
	}
	t.Run("default", func(t *testing.T) {
		s, before, stop, done := start(0, 5*time.Millisecond)
		// Mid-way: churn writes versions (an update at step 0) before
		// it adds the field (step 8 at the earliest, 40ms later).
		sawBefore := false
		waitFor(t, 20*time.Second, "a custom field", func() bool {
			if len(addedFields(s, before)) > 0 {
				return true
			}
			for _, tb := range tables {
				for _, st := range s.States(tb) {
					sawBefore = sawBefore || st.UpdatedAt.After(fixedEpoch)
				}
			}
			return false
		})
		added := addedFields(s, before)
		var table string
		for tb := range added {
			table = tb
		}
		f := added[table][0]
		waitFor(t, 20*time.Second, "records with the new field", func() bool {
			n := 0
			for _, tr := range s.Truth(table) {
				if v, ok := customOf(t, tr.JSON)[f.Key]; ok && string(v) != "null" {
					n++
				}
			}
			return n >= 3
		})
		close(stop)
		<-done
		if len(added) != 1 || len(added[table]) != 1 {
			t.Fatalf("added %v, want one field", added)
		}
		with, without := 0, 0
		for _, tr := range s.Truth(table) {
			v, ok := customOf(t, tr.JSON)[f.Key]
			switch {
			case !ok:
				without++
			case string(v) != "null":
				if err := checkCustom(f.Kind, v, nil); err != nil {
					t.Fatalf("%q (%v) = %s: %v", f.Key, f.Kind, v, err)
				}
				with++
			}
		}
		if with == 0 || without == 0 {
			t.Fatalf("%s: %d records with %q, %d without", table, with, f.Key, without)
		}
		if !sawBefore {
			t.Error("the field came before churn wrote anything: not mid-way")
		}
	})
	t.Run("three", func(t *testing.T) {
		s, before, stop, done := start(3, time.Millisecond)
		waitFor(t, 30*time.Second, "three custom fields", func() bool {
			n := 0
			for _, fs := range addedFields(s, before) {
				n += len(fs)
			}
			return n >= 3
		})
		close(stop)
		<-done
		kinds := map[coupatest.CustomFieldKind]bool{}
		n := 0
		for _, fs := range addedFields(s, before) {
			for _, f := range fs {
				kinds[f.Kind] = true
				n++
			}
		}
		if n != 3 || len(kinds) != 3 {
			t.Fatalf("added %v", addedFields(s, before))
		}
	})
	t.Run("off", func(t *testing.T) {
		s := newServer(t, func(c *coupatest.Config) {
			c.Records = map[string]int{"invoices": 40}
			c.ChurnCustomFields = -1
		})
		before, _ := s.CustomFields("invoices")
		stop, done := make(chan struct{}), make(chan struct{})
		go func() { s.Churn(stop, time.Millisecond, "invoices"); close(done) }()
		// 60 inserted records take at least 20 insert steps, so over
		// 95 steps: far past where the first field would come.
		waitFor(t, 30*time.Second, "churn steps", func() bool { return s.Count("invoices") >= 100 })
		close(stop)
		<-done
		if now, _ := s.CustomFields("invoices"); !slices.Equal(now, before) {
			t.Fatalf("custom fields changed with ChurnCustomFields < 0: %v", now[len(before):])
		}
	})
}
