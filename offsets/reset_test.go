package offsets_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// A reset request lives under its own key: Load returns it beside the
// cursor (which it leaves as it was), WatchResets delivers every request in
// order, also those written after it started, and Pending tells a cursor
// that adopted a request from one that has not.
func TestResetRequests(t *testing.T) {
	ctx, cluster := offsetsCluster(t, 3, 30*time.Second)
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	k := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cl, _ := kgo.NewClient(seeds)
	defer cl.Close()
	cur := offsets.Cursor{UpdatedAt: at, ID: 5, Seq: 3, CommittedAt: at}
	r, _ := offsets.Record("coupa-offsets", k, cur)
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	first, err := offsets.RequestReset(ctx, "coupa-offsets", k, offsets.Cursor{Mode: offsets.FullRefresh}, seeds)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu  sync.Mutex
		got []offsets.Cursor
	)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- offsets.WatchResets(wctx, "coupa-offsets", func(wk offsets.Key, c offsets.Cursor) {
			if wk != k.ResetRequest() {
				t.Errorf("watched key %+v", wk)
			}
			mu.Lock()
			got = append(got, c)
			mu.Unlock()
		}, seeds)
	}()
	time.Sleep(10 * time.Millisecond) // requests now on the clock are later
	second, err := offsets.RequestReset(ctx, "coupa-offsets", k, offsets.Cursor{UpdatedAt: at.Add(-time.Hour)}, seeds)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].CommittedAt.Equal(first.CommittedAt) || got[0].Mode != offsets.FullRefresh ||
		!got[1].CommittedAt.Equal(second.CommittedAt) || !got[1].UpdatedAt.Equal(at.Add(-time.Hour)) {
		t.Fatalf("watched %+v, want the two requests in order", got)
	}

	loaded, err := offsets.Load(ctx, "coupa-offsets", seeds)
	if err != nil {
		t.Fatal(err)
	}
	if c := loaded[k]; !c.WrittenBy(cur) {
		t.Errorf("the cursor became %+v; a request must leave it alone", c)
	}
	req := loaded[k.ResetRequest()]
	if !req.CommittedAt.Equal(second.CommittedAt) {
		t.Errorf("loaded request %+v, want the second", req)
	}
	if !cur.Pending(req) {
		t.Error("a cursor that adopted nothing does not see the request as pending")
	}
	cur.Adopted = req.CommittedAt
	if cur.Pending(req) || cur.Pending(first) {
		t.Error("a cursor that adopted the latest request sees it, or an earlier one, as pending")
	}
}
