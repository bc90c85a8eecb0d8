package producer

import (
	"bytes"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestSecondChangeInTheSameSecondIsPublished: updated_at has second
// precision, so two changes of one record in one second share it. The pass
// that read the first must not take the second for a duplicate.
func TestSecondChangeInTheSameSecondIsPublished(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 21, Records: map[string]int{"users": 20}}, "users")
	h.sync(ctx)
	id := h.anyID("users")
	var pendingWrite *coupatest.PendingWrite
	for pendingWrite == nil { // both changes in one second
		at, _ := h.sim.Update("users", id)
		w, err := h.sim.BeginWrite("users", id)
		if err != nil {
			t.Fatal(err)
		}
		if h.sim.Now().Truncate(time.Second).Equal(at) {
			pendingWrite = w
		}
	}
	time.Sleep(1100 * time.Millisecond)
	h.sync(ctx) // publishes the first change
	first := h.topic(ctx, "users").Last
	pendingWrite.Commit() // the second change, same updated_at, becomes visible
	h.sync(ctx)
	last := h.topic(ctx, "users").Last
	if bytes.Equal(first[id].Value, last[id].Value) {
		t.Fatal("the second change of the same second was taken for a duplicate")
	}
	h.assertTruth(ctx)
}

// TestSlowSliceNeverOverwritesNewerVersion: slices commit in any order; a
// version read earlier must not overwrite one read later, which is newer
// whatever its updated_at says.
func TestSlowSliceNeverOverwritesNewerVersion(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 22, Records: map[string]int{"users": 20}}, "users")
	p := h.producer(ctx)
	defer p.Close()
	ts := p.tables[0]
	id := h.anyID("users")
	older, _ := h.sim.Record("users", id)
	h.sim.LateWrite("users", id, 30*time.Second)
	newer, _ := h.sim.Record("users", id)
	convert := func(tr coupatest.TruthRecord, fetched int64) pending {
		rec, err := coupa.DecodeRecord(tr.JSON)
		if err != nil {
			t.Fatal(err)
		}
		pd, err := ts.convert(rec)
		if err != nil {
			t.Fatal(err)
		}
		pd.fetched = fetched
		return pd
	}
	cm := newCommitter(ts)
	cm.slices = []sliceBook{{}, {}} // an early and a late slice
	if a := cm.handle(ctx, batchRequest{slice: 1, batch: []pending{convert(newer, 2)}}); a.err != nil {
		t.Fatal(a.err)
	}
	if a := cm.handle(ctx, batchRequest{slice: 0, batch: []pending{convert(older, 1)}}); a.err != nil {
		t.Fatal(a.err)
	}
	last := h.topic(ctx, "users").Last
	if want := convert(newer, 0).value; !bytes.Equal(last[id].Value, want) {
		t.Fatalf("the topic ends with the version read first (updated %s), not the newer one (updated %s)", last[id].UpdatedAt.UTC(), newer.UpdatedAt)
	}
}
