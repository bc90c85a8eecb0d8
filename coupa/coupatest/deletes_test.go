package coupatest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// GET /api/<table>/<id> answers a record as a list renders it, and 404 once
// it is deleted (or for an id that never existed); Deleted lists the ids.
func TestShowAndDelete(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"suppliers": 5} })
	tok := token(t, s, "core.supplier.read")
	ids := s.States("suppliers")
	id := ids[2].ID
	r := get(t, s, tok, fmt.Sprintf("/api/suppliers/%d", id), nil)
	want, _ := s.Record("suppliers", id)
	if r.status != http.StatusOK || string(r.body) != string(want.JSON) {
		t.Fatalf("show: %d %.100s, want the record", r.status, r.body)
	}
	if err := s.Delete("suppliers", id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fmt.Sprintf("/api/suppliers/%d", id), "/api/suppliers/999999"} {
		r := get(t, s, tok, path, nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("%s: status %d, want 404", path, r.status)
		}
		r.errorsBody(t)
	}
	if got := s.Deleted("suppliers"); !slices.Equal(got, []int64{id}) {
		t.Errorf("Deleted = %v, want [%d]", got, id)
	}
	if r := get(t, s, "", fmt.Sprintf("/api/suppliers/%d", ids[0].ID), nil); r.status != http.StatusUnauthorized {
		t.Errorf("show without a token: status %d, want 401", r.status)
	}
	if r := get(t, s, tok, "/api/suppliers/12x", nil); r.status != http.StatusNotFound {
		t.Errorf("show of a bad id: status %d, want 404", r.status)
	}
}

// With Deletes, Churn deletes records and new versions drop lines: the
// line count of a record never grows, and lines do go.
func TestChurnDeletesRecordsAndLines(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.Deletes = true
		c.Records = map[string]int{"invoices": 40}
	})
	lines := func(id int64) int {
		rec, ok := s.Record("invoices", id)
		if !ok {
			return -1
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(rec.JSON, &m); err != nil {
			t.Fatal(err)
		}
		var ls []json.RawMessage
		json.Unmarshal(m["invoice-lines"], &ls)
		return len(ls)
	}
	before := map[int64]int{}
	for _, st := range s.States("invoices") {
		before[st.ID] = lines(st.ID)
	}
	stop := make(chan struct{})
	go func() { time.Sleep(400 * time.Millisecond); close(stop) }()
	s.Churn(stop, 2*time.Millisecond, "invoices")
	if len(s.Deleted("invoices")) == 0 {
		t.Error("Churn with Deletes deleted nothing")
	}
	dropped := 0
	for id, n := range before {
		after := lines(id)
		switch {
		case after < 0: // deleted
		case after > n:
			t.Errorf("invoice %d: %d lines, then %d: a line came back", id, n, after)
		case after < n:
			dropped++
		}
	}
	if dropped == 0 {
		t.Error("no new version dropped a line")
	}
}

// Without Deletes, Churn removes nothing.
func TestChurnWithoutDeletesRemovesNothing(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 40} })
	stop := make(chan struct{})
	go func() { time.Sleep(200 * time.Millisecond); close(stop) }()
	s.Churn(stop, 2*time.Millisecond, "invoices")
	if d := s.Deleted("invoices"); len(d) != 0 {
		t.Errorf("deleted %v", d)
	}
}
