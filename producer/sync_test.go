package producer

import (
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
