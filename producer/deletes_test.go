package producer

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// A line that a new version of its parent no longer has gets a tombstone in
// that version's transaction, also when the previous version was published
// by another process: every sync here is a fresh producer, which knows the
// previous lines only from what it reads back from Kafka.
func TestDroppedLinesGetTombstonesAcrossRestarts(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 8, Deletes: true, Records: map[string]int{"invoices": 200}}, "invoices")
	h.sync(ctx)
	dropped := 0
	for round := range 4 {
		for _, st := range h.sim.States("invoices") {
			if st.ID%3 == int64(round%3) {
				h.sim.Update("invoices", st.ID)
			}
		}
		time.Sleep(1100 * time.Millisecond) // a new second: the updates are visible
		h.sync(ctx)
		reps := h.assertTruth(ctx)
		dropped = reps["invoice_lines"].Tombstoned
	}
	if dropped == 0 {
		t.Fatal("no line was dropped: the test proves nothing")
	}
	t.Logf("%d lines dropped and tombstoned", dropped)
}

// A delete sweep tombstones exactly the records Coupa deleted, and their
// lines, in one or more steps, and a later sweep finds nothing new.
func TestDeleteSweepTombstonesDeletedRecords(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 9, Records: map[string]int{"invoices": 300, "suppliers": 250}}, "invoices", "suppliers")
	h.sync(ctx, h.sweepEveryPass)
	deleted := map[string][]int64{}
	for _, table := range []string{"invoices", "suppliers"} {
		for i, st := range h.sim.States(table) {
			if i%23 == 5 || i == len(h.sim.States(table))-1 { // spread out, and the table's last id
				if err := h.sim.Delete(table, st.ID); err != nil {
					t.Fatal(err)
				}
				deleted[table] = append(deleted[table], st.ID)
			}
		}
	}
	metrics := NewMetrics()
	h.sync(ctx, h.sweepEveryPass, func(c *Config) { c.Metrics = metrics })
	reps := h.assertTruth(ctx)
	for table, ids := range deleted {
		if got := reps[table].Tombstoned; got != len(ids) {
			t.Errorf("%s: %d tombstones, want %d (deleted %v)", table, got, len(ids), ids)
		}
		if got := testutil.ToFloat64(metrics.tombstones.WithLabelValues(table)); got != float64(len(ids)) {
			t.Errorf("%s: tombstones metric %v, want %d", table, got, len(ids))
		}
		if got := testutil.ToFloat64(metrics.sweeps.WithLabelValues(table, "completed")); got != 1 {
			t.Errorf("%s: %v completed sweeps counted, want 1", table, got)
		}
	}
	if reps["invoice_lines"].Tombstoned == 0 {
		t.Error("the deleted invoices' lines got no tombstones")
	}
	before := h.topic(ctx, "suppliers").Records
	h.sync(ctx, h.sweepEveryPass)
	if after := h.topic(ctx, "suppliers").Records; after != before {
		t.Errorf("a second sweep wrote %d more records to suppliers", after-before)
	}
}

// doubtful is a Checker that lies the way a real instance can without
// deleting anything: a listing that leaves records out (an admin filter, a
// permission), a read that fails, a listing out of id order.
type doubtful struct {
	inner     Checker
	leaveOut  func(id int64) bool
	existsErr error
	backwards bool
	mu        *sync.Mutex
	afters    *[]string // the id[gt] of every listing
}

func (d doubtful) List(ctx context.Context, t coupa.Table, q coupa.Query) (coupa.Page, error) {
	p, err := d.inner.List(ctx, t, q)
	if err != nil {
		return p, err
	}
	if d.afters != nil {
		d.mu.Lock()
		*d.afters = append(*d.afters, q.Filters[0].Value)
		d.mu.Unlock()
	}
	var kept []coupa.Record
	for _, r := range p.Records {
		if d.leaveOut == nil || !d.leaveOut(r.ID) {
			kept = append(kept, r)
		}
	}
	if d.backwards && len(kept) > 1 {
		kept[0], kept[1] = kept[1], kept[0]
	}
	p.Records = kept
	return p, nil
}

func (d doubtful) Exists(ctx context.Context, t coupa.Table, id int64) (bool, error) {
	if d.existsErr != nil {
		return false, d.existsErr
	}
	return d.inner.Exists(ctx, t, id)
}

// Nothing a sweep cannot confirm becomes a tombstone: records a filtered
// listing leaves out are read one by one and kept (and the sweep gives up
// after MaxExisting of them), a failed read stops the step, a listing out of
// id order is refused. Records that really are deleted still go, once
// confirmed.
func TestSweepDeletesNothingOnDoubt(t *testing.T) {
	for name, tc := range map[string]struct {
		checker    doubtful
		wantErr    bool
		tombstoned int
		result     string
	}{
		"a listing that leaves records out": {checker: doubtful{leaveOut: func(id int64) bool { return id%7 == 0 }}, tombstoned: 3, result: "abandoned"},
		"an empty listing":                  {checker: doubtful{leaveOut: func(int64) bool { return true }}, tombstoned: 3, result: "abandoned"},
		"a read refused":                    {checker: doubtful{existsErr: &coupa.ScopeError{Table: "suppliers", Scope: "core.supplier.read"}}, wantErr: true, result: "failed"},
		"a listing out of id order":         {checker: doubtful{backwards: true}, wantErr: true, result: "failed"},
		"an honest listing":                 {tombstoned: 3, result: "completed"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t, time.Minute)
			h := newHarness(t, coupatest.Config{Seed: 4, Records: map[string]int{"suppliers": 400}}, "suppliers")
			h.sync(ctx)
			var gone []int64
			for i, st := range h.sim.States("suppliers") {
				if i%150 == 7 && len(gone) < 3 {
					gone = append(gone, st.ID)
					h.sim.Delete("suppliers", st.ID)
				}
			}
			d := tc.checker
			d.inner = h.client
			metrics := NewMetrics()
			p := h.producer(ctx, func(c *Config) {
				h.sweepEveryPass(c)
				c.DeleteSweep.Coupa, c.DeleteSweep.MaxExisting, c.Metrics = d, 5, metrics
			})
			_, err := p.Sync(ctx)
			p.Close()
			if (err != nil) != tc.wantErr {
				t.Fatalf("sync error %v, want an error: %v", err, tc.wantErr)
			}
			rep := h.assertTruthAllowingLateDeletes(ctx, "suppliers")
			if rep.FalseTombstones != 0 || rep.Tombstoned > tc.tombstoned {
				t.Errorf("%d tombstones (%d false), want at most %d", rep.Tombstoned, rep.FalseTombstones, tc.tombstoned)
			}
			if tc.result == "completed" && rep.Tombstoned != tc.tombstoned {
				t.Errorf("%d tombstones, want %d", rep.Tombstoned, tc.tombstoned)
			}
			if got := testutil.ToFloat64(metrics.sweeps.WithLabelValues("suppliers", tc.result)); got != 1 {
				t.Errorf("sweeps %s = %v, want 1", tc.result, got)
			}
		})
	}
}

// assertTruthAllowingLateDeletes compares table with the truth, counting a
// deleted record still in the topic as merely late (a sweep that did not
// finish), and fails on anything else.
func (h *harness) assertTruthAllowingLateDeletes(ctx context.Context, table string) truthcheckReport {
	h.t.Helper()
	truth := h.sim.Truth(table)
	last := h.topic(ctx, table).Last
	var rep truthcheckReport
	for id, p := range last {
		_, live := truth[id]
		switch {
		case p.Value == nil && live:
			rep.FalseTombstones++
		case p.Value == nil:
			rep.Tombstoned++
		}
	}
	for id := range truth {
		if _, ok := last[id]; !ok {
			h.t.Errorf("%s: record %d is missing", table, id)
		}
	}
	return rep
}

type truthcheckReport struct{ Tombstoned, FalseTombstones int }

// A sweep killed part-way resumes after the last stretch it committed, and
// tombstones each deleted record exactly once.
func TestSweepResumesAfterCrash(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 6, Records: map[string]int{"suppliers": 700}}, "suppliers")
	h.sync(ctx)
	var gone []int64
	for i, st := range h.sim.States("suppliers") {
		if i%30 == 11 {
			gone = append(gone, st.ID)
			h.sim.Delete("suppliers", st.ID)
		}
	}
	// The sweep's third step dies before its commit: two steps (200 ids)
	// are committed.
	runCtx, kill := context.WithCancel(ctx)
	pr := &process{kill: kill, at: func(_, s string, txn int) bool { return s == stepBeforeCommit && txn == 3 }}
	p := h.producer(ctx, pr.option, h.sweepEveryPass)
	_, err := p.Sync(runCtx)
	p.Close()
	kill()
	if !pr.isDead() {
		t.Fatalf("the sweep did not crash: %v", err)
	}
	cursors, err := offsets.Load(ctx, "coupa-offsets", h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	sw := cursors[offsets.Key{Instance: h.client.Instance(), Table: "suppliers"}].Sweep
	if !sw.Running() || sw.After == 0 {
		t.Fatalf("after the crash the sweep state is %+v, want one under way", sw)
	}
	var afters []string
	d := doubtful{inner: h.client, mu: &sync.Mutex{}, afters: &afters}
	h.sync(ctx, h.sweepEveryPass, func(c *Config) { c.DeleteSweep.Coupa = d })
	if len(afters) == 0 {
		t.Fatal("the restarted sweep listed nothing")
	}
	if first := afters[0]; first != strconv.FormatInt(sw.After, 10) {
		t.Errorf("the restarted sweep listed ids after %s, want after %d", first, sw.After)
	}
	rep := h.assertTruth(ctx)["suppliers"]
	if rep.Tombstoned != len(gone) {
		t.Errorf("%d tombstoned, want %d", rep.Tombstoned, len(gone))
	}
	tombstones := 0
	err = kread.Committed(ctx, "coupa.suppliers", kread.FromStart(), func(r *kgo.Record) error {
		if r.Value == nil {
			tombstones++
		}
		return nil
	}, h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	if tombstones != len(gone) {
		t.Errorf("%d tombstone records for %d deleted records", tombstones, len(gone))
	}
}

// A restart forgets the versions of a record whose last record is a
// tombstone, as the sweep that wrote it did: were the record ever listed
// again, it would be published again, not taken for published.
func TestRestoreForgetsTombstonedVersions(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 4, Records: map[string]int{"suppliers": 60}}, "suppliers")
	h.sync(ctx)
	id := h.publishedID(ctx, "suppliers")
	h.sim.Update("suppliers", id) // a version inside the lookback window
	time.Sleep(1100 * time.Millisecond)
	h.sync(ctx)
	h.sim.Delete("suppliers", id)
	h.sync(ctx, h.sweepEveryPass)
	p := h.producer(ctx, h.sweepEveryPass)
	defer p.Close()
	ts := p.tables[0]
	for v := range ts.seen.set {
		if v.id == id {
			t.Fatalf("restored seen still holds version %v of tombstoned record %d", v, id)
		}
	}
	if ts.published.has(id) {
		t.Fatalf("restored index still holds tombstoned record %d", id)
	}
}
