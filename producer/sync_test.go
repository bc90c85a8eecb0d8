package producer

import (
	"context"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

func TestFullSyncOfAllTablesThenIncremental(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 7, UTCOffset: -7 * time.Hour, Adversarial: true})
	res := h.sync(ctx)
	total := 0
	for _, r := range res {
		total += r.Published
		if want := h.sim.Count(r.Table); r.Published != want {
			t.Errorf("%s: first pass published %d, instance has %d", r.Table, r.Published, want)
		}
	}
	h.assertTruth(ctx)

	// Nothing changed: a second pass publishes nothing.
	for _, r := range h.sync(ctx) {
		if r.Published != 0 {
			t.Errorf("%s: idle pass published %d", r.Table, r.Published)
		}
	}
	// Changes: exactly those are published.
	if _, err := h.sim.Update("invoices", h.anyID("invoices")); err != nil {
		t.Fatal(err)
	}
	h.sim.Insert("suppliers", 3)
	time.Sleep(1100 * time.Millisecond) // the pass bound excludes the current second
	got := map[string]int{}
	for _, r := range h.sync(ctx) {
		got[r.Table] = r.Published
	}
	if got["invoices"] != 1 || got["suppliers"] != 3 {
		t.Errorf("incremental pass published %v, want 1 invoice and 3 suppliers", got)
	}
	h.assertTruth(ctx)
	t.Logf("first pass published %d records", total)
}

func (h *harness) anyID(table string) int64 {
	for _, s := range h.sim.States(table) {
		return s.ID
	}
	h.t.Fatalf("%s is empty", table)
	return 0
}

// publishedID returns the id of a record that table's topic holds and the
// instance still has.
func (h *harness) publishedID(ctx context.Context, table string) int64 {
	h.t.Helper()
	for id, p := range h.topic(ctx, table).Last {
		if _, live := h.sim.Record(table, id); live && p.Value != nil {
			return id
		}
	}
	h.t.Fatalf("%s: no published record is live", table)
	return 0
}

// TestIncrementalPassRequests pins what a pass costs in requests, counted
// by the instance: an idle incremental pass, or one with fewer changes in
// its lookback window than a page holds, is one request (its first page is
// both the instance clock and all of its data); a backfill costs its data
// pages plus about one request per slice.
func TestIncrementalPassRequests(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 8, Records: map[string]int{"suppliers": 900}}, "suppliers")
	lists := func() int64 { return h.sim.Stats().Total("suppliers", 0) }

	before := lists()
	res := h.sync(ctx)
	backfill := lists() - before
	pages := int64((900 + 49) / 50)
	slices := int64(900/90 + 1) // harness: SliceRecords 90
	t.Logf("backfill: %d requests for %d pages in about %d slices", backfill, pages, slices)
	if int64(res[0].Requests) != backfill || backfill > pages+2*slices {
		t.Errorf("backfill: %d requests by the instance's count, %d by the pass's, for %d pages in about %d slices", backfill, res[0].Requests, pages, slices)
	}

	before = lists()
	if res := h.sync(ctx); res[0].Requests != 1 || lists()-before != 1 {
		t.Errorf("idle pass: %d requests (instance: %d), want 1", res[0].Requests, lists()-before)
	}

	for _, st := range h.sim.States("suppliers")[:20] {
		h.sim.Update("suppliers", st.ID)
	}
	time.Sleep(1100 * time.Millisecond) // the pass bound excludes the current second
	before = lists()
	if res := h.sync(ctx); res[0].Published != 20 || res[0].Requests != 1 || lists()-before != 1 {
		t.Errorf("pass with 20 changes: published %d in %d requests (instance: %d), want 20 in 1", res[0].Published, res[0].Requests, lists()-before)
	}
}
