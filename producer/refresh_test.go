package producer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// TestFullRefreshRepublishesThenContinuesIncrementally: a cursor in
// full_refresh mode (as `cursors reset --to-earliest --full-refresh` writes
// it) republishes every record, survives a crash half way, and then returns
// to incremental mode.
func TestFullRefreshRepublishesThenContinuesIncrementally(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 9, Records: map[string]int{"suppliers": 300}}, "suppliers")
	h.sync(ctx)
	key := offsets.Key{Instance: h.client.Instance(), Table: "suppliers"}
	h.writeCursor(ctx, key, offsets.Cursor{Mode: offsets.FullRefresh})

	runCtx, kill := context.WithCancel(ctx)
	pr := &process{kill: kill, at: func(_, s string, txn int) bool { return s == stepAfterCommit && txn == 2 }}
	p := h.producer(ctx, pr.option, func(c *Config) { c.BatchRecords = 50 })
	p.Sync(runCtx)
	p.Close()
	kill()
	mid, _ := offsets.Load(ctx, "coupa-offsets", h.kafka()...)
	if mid[key].Mode != offsets.FullRefresh || mid[key].IsZero() {
		t.Fatalf("after a crash half way the refresh cursor is %+v", mid[key])
	}
	res := h.sync(ctx)
	end, _ := offsets.Load(ctx, "coupa-offsets", h.kafka()...)
	if end[key].Mode != offsets.Incremental {
		t.Errorf("after the refresh the mode is %s", end[key].Mode)
	}
	perVersion := map[[2]int64]int{}
	for c, n := range h.topic(ctx, "suppliers").Count {
		perVersion[[2]int64{c.ID, c.At}] += n
	}
	for _, st := range h.sim.States("suppliers") {
		if c := perVersion[[2]int64{st.ID, st.UpdatedAt.UnixMilli()}]; c != 2 {
			t.Errorf("record %d published %d times, want twice (sync + refresh)", st.ID, c)
			break
		}
	}
	if res[0].Published == 0 {
		t.Error("the resumed refresh published nothing")
	}
	if again := h.sync(ctx); again[0].Published != 0 {
		t.Errorf("incremental pass after the refresh published %d", again[0].Published)
	}
}

func (h *harness) writeCursor(ctx context.Context, k offsets.Key, c offsets.Cursor) {
	h.t.Helper()
	cl, err := kgo.NewClient(append(h.kafka(), kgo.TransactionalID(k.TransactionalID()))...)
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	r, _ := offsets.Record("coupa-offsets", k, c)
	if err := cl.BeginTransaction(); err != nil {
		h.t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		h.t.Fatal(err)
	}
}
