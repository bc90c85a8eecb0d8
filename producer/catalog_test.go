package producer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
)

var catalogSample = truthcheck.CatalogSample

// TestCatalogSampleUnderMutationsAndKills syncs the eight tables and the
// catalog sample while the instance churns all of them (records updated,
// inserted and deleted; budget lines changing without their updated_at
// moving), killing the process mid-transaction again and again, then a
// final sync: every topic must equal the instance, with nothing published
// twice (a full refresh republishes no unchanged record) and a tombstone
// for every deleted record.
func TestCatalogSampleUnderMutationsAndKills(t *testing.T) {
	ctx := testContext(t, 4*time.Minute)
	names := append(defaultNames(), catalogSample...)
	records := map[string]int{}
	for _, n := range names {
		records[n] = 60
	}
	h := newHarness(t, coupatest.Config{Seed: 21, UTCOffset: -7 * time.Hour, Adversarial: true, Deletes: true, Records: records}, names...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.sim.Churn(stop, 5*time.Millisecond, names...)
	}()
	kills := 0
	steps := []string{stepBeforeProduce, stepBeforeCommit, stepAfterCommit}
	for i := range 6 {
		runCtx, kill := context.WithCancel(ctx)
		victim := catalogSample[(i*7)%len(catalogSample)]
		pr := &process{kill: kill, at: func(table, s string, txn int) bool {
			return table == victim && s == steps[i%len(steps)] && txn == 2
		}}
		p := h.producer(ctx, pr.option, h.sweepEveryPass, func(c *Config) { c.BatchRecords = 20; c.DeleteSweep.Step = 20 })
		p.Sync(runCtx) // killed or not: the kill lands only if the victim commits twice
		p.Close()
		kill()
		if pr.isDead() {
			kills++
		}
	}
	close(stop)
	wg.Wait()
	time.Sleep(1100 * time.Millisecond) // let the last second close
	// The first sync finishes the sweeps and refreshes the kills left
	// under way (from where they were: a delete behind that point is the
	// next one's), the second sweeps and refreshes every table whole.
	h.sync(ctx, h.sweepEveryPass)
	h.sync(ctx, h.sweepEveryPass)
	reps := h.assertTruth(ctx)
	tombstoned := 0
	for _, n := range catalogSample {
		tombstoned += reps[n].Tombstoned
	}
	if tombstoned == 0 || kills == 0 {
		t.Errorf("%d tombstones, %d kills: deletes or kills are not tested", tombstoned, kills)
	}
	// One more sync of an unchanged instance publishes nothing, full
	// refresh tables included.
	for _, r := range h.sync(ctx) {
		if r.Published != 0 {
			t.Errorf("%s: a sync of an unchanged instance published %d records", r.Table, r.Published)
		}
	}
}

func defaultNames() []string {
	var out []string
	for _, t := range coupa.DefaultTables {
		out = append(out, t.Name)
	}
	return out
}

// TestEveryCatalogTableSyncs syncs all 73 catalog tables (COUPA_TABLES=all)
// while the instance churns every one of them, then once more after the
// churn: every topic equals the instance, nothing missing, stale or
// published twice. Schemas stay static here: srfake normalises every stored
// schema on each registration, and 77 subjects learning cost more than the
// table coverage this test is for (TestCatalogSampleUnderMutationsAndKills
// and evolution_test.go test evolution; the real-broker suite evolves all 73).
func TestEveryCatalogTableSyncs(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	records := map[string]int{}
	var names []string
	for _, tb := range coupa.Catalog {
		records[tb.Name] = 40
		names = append(names, tb.Name)
	}
	h := newHarness(t, coupatest.Config{Seed: 17, UTCOffset: -7 * time.Hour, Adversarial: true, Deletes: true, Records: records}, names...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.sim.Churn(stop, 2*time.Millisecond, names...)
	}()
	static := func(c *Config) { c.StaticSchemas = true }
	h.sync(ctx, h.sweepEveryPass, static)
	h.sync(ctx, h.sweepEveryPass, static)
	close(stop)
	wg.Wait()
	time.Sleep(1100 * time.Millisecond)
	h.sync(ctx, h.sweepEveryPass, static)
	h.sync(ctx, h.sweepEveryPass, static)
	h.assertTruth(ctx, truthcheck.StaticSchemas())
}
