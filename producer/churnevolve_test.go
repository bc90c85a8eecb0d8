package producer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestFirstPassUnderChurnPublishesNoVersionTwice: the first passes of an
// instance whose schemas learn while the simulator churns (and adds a
// custom field mid-way) publish no version twice. Parallel slices learn
// keys the schema lacks from different records, so a record with such a
// key null (left in extra: a null teaches no type) can be converted with
// a version registered just before another worker's, which learned that
// key; read again with the later version, it must hash alike
// (schemas.Table.ContentHash), or it and its lines are published again.
func TestFirstPassUnderChurnPublishesNoVersionTwice(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	tables := []string{"expense_reports", "requisitions", "users"}
	h := newHarness(t, coupatest.Config{
		Seed: 63, UTCOffset: -7 * time.Hour,
		Records: map[string]int{"requisitions": 200, "users": 150, "expense_reports": 100},
	}, tables...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.sim.Churn(stop, 100*time.Millisecond, tables...)
	}()
	time.Sleep(time.Second)
	p := h.producer(ctx)
	defer p.Close()
	runCtx, cancel := context.WithTimeout(ctx, 4*time.Second)
	err := p.Run(runCtx, Poll{Min: 250 * time.Millisecond, Max: time.Second, Budget: -1}, func(r PassResult, err error) {
		if err != nil && runCtx.Err() == nil {
			t.Errorf("pass of %s: %v", r.Table, err)
		}
	})
	cancel()
	if err != nil && runCtx.Err() == nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	time.Sleep(1100 * time.Millisecond) // let the last second close
	h.sync(ctx)
	h.assertTruth(ctx)
	if _, versions := h.latestSchema(ctx, "expense_reports"); versions < 3 {
		t.Errorf("expense_reports has %d schema versions: the passes did not evolve it as they read", versions)
	}
}
