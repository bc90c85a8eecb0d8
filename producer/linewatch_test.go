package producer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
)

// Lines that change on their own (a receipt against a purchase order line,
// an expense line itemised) reach their line topics, with a new version of
// their parent, although the parent's updated_at does not move; more than a
// page of them in one second too. Nothing is published twice: not by the
// next pass, nor after a restart.
func TestLinesChangingOnTheirOwnReachTheirTopics(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 12, Records: map[string]int{"purchase_orders": 300, "expense_reports": 120}},
		"purchase_orders", "expense_reports")
	h.sync(ctx)
	changed, recent := 0, 0
	var newest time.Time // the cursor: the pass re-reads a lookback window before it
	for _, st := range h.sim.States("purchase_orders") {
		if st.UpdatedAt.After(newest) {
			newest = st.UpdatedAt
		}
	}
	for table, every := range map[string]int{"purchase_orders": 4, "expense_reports": 10} {
		for i, st := range h.sim.States(table) {
			if i%every == 0 { // 75 orders in one second: a tie of lines longer than a page
				if _, err := h.sim.ChangeLines(table, st.ID); err != nil {
					t.Fatal(err)
				}
				changed++
				if table == "purchase_orders" && st.UpdatedAt.After(newest.Add(-10*time.Minute)) {
					recent++ // the pass's lookback window re-reads it: the pass may publish it
				}
			}
		}
	}
	time.Sleep(1100 * time.Millisecond)
	published := 0
	for _, r := range h.sync(ctx) {
		published += r.Published
	}
	if published != changed {
		t.Errorf("published %d parents for %d whose lines changed", published, changed)
	}
	h.assertTruth(ctx)
	if n := headerCount(t, ctx, h, "coupa.purchase_orders", HeaderLinesChangedAt); n > 75 || n < 75-recent {
		t.Errorf("%d purchase orders carry %s, want 75 (or %d fewer, published by the pass)", n, HeaderLinesChangedAt, recent)
	}
	for i := range 2 { // the next pass, then a restarted producer
		for _, r := range h.sync(ctx) {
			if r.Published != 0 {
				t.Errorf("sync %d republished %d records of %s", i, r.Published, r.Table)
			}
		}
	}
	h.assertTruth(ctx)
}

// headerCount counts the records of topic that carry header key.
func headerCount(t *testing.T, ctx context.Context, h *harness, topic, key string) int {
	t.Helper()
	n := 0
	err := kread.Committed(ctx, topic, kread.FromStart(), func(r *kgo.Record) error {
		if _, ok := header(r, key); ok {
			n++
		}
		return nil
	}, h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A kill at each step of the watch's transaction, then a restart: the
// changed lines are published once, with their parents, and the watch's
// position never passes a parent that is not published.
func TestLineWatchKilledThenRestarted(t *testing.T) {
	for _, step := range []string{stepBeforeProduce, stepBeforeCommit, stepAfterCommit} {
		t.Run(step, func(t *testing.T) {
			ctx := testContext(t, time.Minute)
			h := newHarness(t, coupatest.Config{Seed: 13, Records: map[string]int{"purchase_orders": 200}}, "purchase_orders")
			h.sync(ctx)
			for i, st := range h.sim.States("purchase_orders") {
				if i%3 == 0 {
					h.sim.ChangeLines("purchase_orders", st.ID)
				}
			}
			time.Sleep(1100 * time.Millisecond)
			runCtx, kill := context.WithCancel(ctx)
			pr := &process{kill: kill, at: func(_, s string, txn int) bool { return s == step && txn == 1 }}
			p := h.producer(ctx, pr.option)
			_, err := p.Sync(runCtx)
			p.Close()
			kill()
			if !pr.isDead() {
				t.Fatalf("the watch did not crash at %s: %v", step, err)
			}
			h.sync(ctx)
			h.assertTruth(ctx)
			if n := headerCount(t, ctx, h, "coupa.purchase_orders", HeaderLinesChangedAt); n != 67 {
				t.Errorf("%d purchase orders carry %s, want 67 (one each)", n, HeaderLinesChangedAt)
			}
		})
	}
}
