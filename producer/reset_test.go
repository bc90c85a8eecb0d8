package producer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// TestLiveResetIsAdoptedWithoutRestart: `cursors reset --to-earliest
// --full-refresh` while `run` is live. The running producer adopts the
// request at its next pass (no restart, not fenced), republishes the table,
// records the request as adopted, and goes back to incremental passes;
// changes made meanwhile are published as usual.
func TestLiveResetIsAdoptedWithoutRestart(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 31, Records: map[string]int{"suppliers": 250, "users": 40}}, "suppliers", "users")
	p := h.producer(ctx)
	defer p.Close()
	runCtx, stop := context.WithCancel(ctx)
	var passes, failures atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- p.Run(runCtx, Poll{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond, Budget: -1}, func(res PassResult, err error) {
			if res.Table == "suppliers" {
				passes.Add(1)
			}
			if err != nil {
				failures.Add(1)
				t.Errorf("pass of %s: %v", res.Table, err)
			}
		})
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the first passes", func() bool { return passes.Load() >= 2 })

	key := offsets.Key{Instance: h.client.Instance(), Table: "suppliers"}
	req, err := offsets.RequestReset(ctx, "coupa-offsets", key, offsets.Cursor{Mode: offsets.FullRefresh}, h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	changed := h.anyID("suppliers")
	h.sim.Update("suppliers", changed)
	waitFor("the reset to be adopted and the refresh to end", func() bool {
		cursors, err := offsets.LoadSettled(ctx, "coupa-offsets", h.kafka()...)
		c := cursors[key]
		return err == nil && c.Adopted.Equal(req.CommittedAt) && c.Mode == offsets.Incremental && !c.IsZero()
	})
	time.Sleep(1100 * time.Millisecond) // the change is within the bound of the next passes
	n := passes.Load()
	waitFor("two more passes", func() bool { return passes.Load() >= n+2 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if failures.Load() != 0 {
		t.Fatalf("%d passes failed", failures.Load())
	}
	topic := h.topic(ctx, "suppliers")
	for _, st := range h.sim.States("suppliers") {
		if st.ID == changed {
			continue // its new version may have been published once, before the refresh or by it
		}
		n := 0
		for v, c := range topic.Count {
			if v.ID == st.ID && v.At == st.UpdatedAt.UnixMilli() {
				n += c
			}
		}
		if n < 2 {
			t.Fatalf("supplier %d (updated %s) is in the topic %d times, want it republished by the refresh", st.ID, st.UpdatedAt, n)
		}
	}
	h.assertTruth(ctx, truthcheck.Refreshed(1))
}

// TestResetRequestedWhileStoppedIsAdoptedAtStart: a request written while no
// producer runs is adopted by the next one; one that crashes before its
// adoption is committed leaves the request pending for the one after.
func TestResetRequestedWhileStoppedIsAdoptedAtStart(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 32, Records: map[string]int{"users": 60}}, "users")
	h.sync(ctx)
	key := offsets.Key{Instance: h.client.Instance(), Table: "users"}
	before, _ := offsets.LoadSettled(ctx, "coupa-offsets", h.kafka()...)
	to := offsets.Cursor{UpdatedAt: before[key].UpdatedAt.Add(-48 * time.Hour), Mode: offsets.FullRefresh}
	req, err := offsets.RequestReset(ctx, "coupa-offsets", key, to, h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}

	runCtx, kill := context.WithCancel(ctx)
	pr := &process{kill: kill, at: func(_, s string, txn int) bool { return s == stepBeforeCommit && txn == 1 }}
	crashing := h.producer(ctx, pr.option)
	if _, err := crashing.Sync(runCtx); err == nil || !pr.isDead() {
		t.Fatalf("the producer did not die adopting the reset: %v", err)
	}
	crashing.Close()
	kill()
	// Load, not LoadSettled: the dead process's transaction stays open
	// until the next producer of the table starts.
	mid, err := offsets.Load(ctx, "coupa-offsets", h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	if !mid[key].Pending(req) {
		t.Fatal("the request is no longer pending after a crash before its adoption committed")
	}

	res := h.sync(ctx)
	after, _ := offsets.LoadSettled(ctx, "coupa-offsets", h.kafka()...)
	if c := after[key]; !c.Adopted.Equal(req.CommittedAt) || c.Mode != offsets.Incremental {
		t.Fatalf("cursor after the restart %+v, want the request adopted and the refresh done", c)
	}
	var republished int
	for _, st := range h.sim.States("users") {
		if !st.UpdatedAt.Before(to.UpdatedAt) {
			republished++
		}
	}
	if res[0].Published != republished {
		t.Errorf("the adopted full refresh published %d records, want the %d from its cursor on", res[0].Published, republished)
	}
	if res := h.sync(ctx); res[0].Published != 0 {
		t.Errorf("the next pass published %d: the request was adopted twice", res[0].Published)
	}
	h.assertTruth(ctx, truthcheck.Refreshed(1))
}
