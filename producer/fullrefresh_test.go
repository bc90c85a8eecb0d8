package producer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// TestFullRefreshPublishesOnlyChanges: budget lines change without their
// updated_at moving and currencies have none, so a pass by updated_at would
// miss every change; a full refresh finds them, publishes exactly the
// changed records, and an unchanged table publishes nothing.
func TestFullRefreshPublishesOnlyChanges(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 8, Records: map[string]int{"budget_lines": 130, "currencies": 8}}, "budget_lines", "currencies")
	small := func(c *Config) { c.DeleteSweep.Step = 40 }
	res := h.sync(ctx, small)
	if res[0].Published != 130 || res[1].Published != 8 {
		t.Fatalf("first refresh published %d budget lines and %d currencies", res[0].Published, res[1].Published)
	}
	h.assertTruth(ctx)

	id := h.anyID("budget_lines")
	before, _ := h.sim.Record("budget_lines", id)
	if _, err := h.sim.Update("budget_lines", id); err != nil {
		t.Fatal(err)
	}
	after, _ := h.sim.Record("budget_lines", id)
	if string(after.JSON) == string(before.JSON) {
		t.Fatal("the update changed nothing")
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Logf("this update moved updated_at (most budget line updates do not)")
	}
	if _, err := h.sim.Update("currencies", h.anyID("currencies")); err != nil {
		t.Fatal(err)
	}
	res = h.sync(ctx, small)
	if res[0].Published != 1 || res[1].Published != 1 {
		t.Errorf("second refresh published %d budget lines and %d currencies, want 1 and 1", res[0].Published, res[1].Published)
	}
	h.assertTruth(ctx)
	res = h.sync(ctx, small)
	if res[0].Published+res[1].Published != 0 {
		t.Errorf("a refresh of unchanged tables published %d records", res[0].Published+res[1].Published)
	}
	// Records without updated_at carry the refresh's start instead.
	for id, p := range h.topic(ctx, "currencies").Last {
		if p.UpdatedAt.Before(time.Now().Add(-time.Minute)) {
			t.Errorf("currency %d: timestamp %s, want its refresh's start", id, p.UpdatedAt)
		}
	}
}

// TestFullRefreshResumesAfterKill kills a refresh between produce and
// commit in its second step; the next run resumes the refresh where the
// first step's commit left it and nothing is lost or published twice.
func TestFullRefreshResumesAfterKill(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 9, Records: map[string]int{"budget_lines": 200}}, "budget_lines")
	small := func(c *Config) { c.DeleteSweep.Step = 50 }
	runCtx, kill := context.WithCancel(ctx)
	pr := &process{kill: kill, at: func(_, s string, txn int) bool { return s == stepBeforeCommit && txn == 2 }}
	p := h.producer(ctx, pr.option, small)
	if _, err := p.Sync(runCtx); err == nil || !pr.isDead() {
		t.Fatalf("the refresh did not die: %v", err)
	}
	p.Close()
	kill()
	cursors, err := offsets.Load(ctx, "coupa-offsets", h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	sw := cursors[offsets.Key{Instance: h.client.Instance(), Table: "budget_lines"}].Sweep
	if !sw.Running() || sw.After == 0 {
		t.Fatalf("after the kill the refresh should be under way past its first step: %+v", sw)
	}
	res := h.sync(ctx, small)
	if res[0].Published != 150 {
		t.Errorf("the resumed refresh published %d records, want the 150 after the first step", res[0].Published)
	}
	h.assertTruth(ctx)
}

func TestPollForTable(t *testing.T) {
	p := Poll{Min: 2 * time.Second, Max: 30 * time.Second, Intervals: map[string]time.Duration{"exchange_rates": time.Hour, "invoices": time.Second}}
	for name, want := range map[string]time.Duration{
		"invoices": time.Second, "receiving_transactions": 30 * time.Second, "exchange_rates": time.Hour,
		"lookup_values": coupa.ReferencePollInterval, "currencies": coupa.FullRefreshPollInterval,
	} {
		tb, err := coupa.LookupTable(name)
		if err != nil {
			t.Fatal(err)
		}
		got := p.forTable(tb)
		if got.Max != want || got.Min > got.Max {
			t.Errorf("%s: polls %v to %v, want up to %v", name, got.Min, got.Max, want)
		}
	}
	if err := (&Poll{Intervals: map[string]time.Duration{"uoms": -time.Second}}).defaults(); err == nil {
		t.Error("a negative interval was accepted")
	}
}

// TestRunRefreshesOnSchedule: under Run, a full refresh table is refreshed
// every interval (Poll.Intervals), not at the pace of incremental tables;
// an unchanged refresh publishes nothing and a change is published by the
// next refresh.
func TestRunRefreshesOnSchedule(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 52, Records: map[string]int{"currencies": 8}}, "currencies")
	p := h.producer(ctx)
	defer p.Close()
	const interval = 400 * time.Millisecond
	poll := Poll{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond, Budget: 100, Intervals: map[string]time.Duration{"currencies": interval}}
	var (
		mu        sync.Mutex
		published []int
	)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.Run(runCtx, poll, func(r PassResult, err error) {
			if err != nil {
				t.Errorf("refresh: %v", err)
			}
			mu.Lock()
			published = append(published, r.Published)
			mu.Unlock()
		})
	}()
	time.Sleep(1100 * time.Millisecond)
	if _, err := h.sim.Update("currencies", h.anyID("currencies")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// About 2.2 s at one refresh per 400 ms (plus the refresh itself): 4
	// to 7 refreshes, where the 20 ms ceiling would have made 50 or more.
	if len(published) < 3 || len(published) > 8 {
		t.Errorf("%d refreshes in 2.2 s at one per %v: %v", len(published), interval, published)
	}
	total := 0
	for _, n := range published[1:] {
		total += n
	}
	if published[0] != 8 || total != 1 {
		t.Errorf("refreshes published %v: want 8, then only the one change", published)
	}
	h.assertTruth(ctx)
}
