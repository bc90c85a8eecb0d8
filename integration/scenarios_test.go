//go:build integration

package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// A full sync of all 8 tables, an idle pass, then an incremental pass that
// publishes exactly what changed; the topics the producer created are
// compacted on the real broker.
func TestFullSyncOfAllTablesThenIncremental(t *testing.T) {
	ctx := testContext(t, 4*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 7, UTCOffset: -7 * time.Hour, Adversarial: true})
	total := 0
	for _, r := range w.sync(ctx) {
		total += r.Published
		if want := w.sim.Count(r.Table); r.Published != want {
			t.Errorf("%s: first pass published %d, instance has %d", r.Table, r.Published, want)
		}
	}
	w.assertTruth(ctx)

	for _, r := range w.sync(ctx) {
		if r.Published != 0 {
			t.Errorf("%s: idle pass published %d", r.Table, r.Published)
		}
	}
	if _, err := w.sim.Update("invoices", anyID(t, w.sim, "invoices")); err != nil {
		t.Fatal(err)
	}
	w.sim.Insert("suppliers", 3)
	time.Sleep(1100 * time.Millisecond) // the pass bound excludes the current second
	got := map[string]int{}
	for _, r := range w.sync(ctx) {
		got[r.Table] = r.Published
	}
	if got["invoices"] != 1 || got["suppliers"] != 3 || len(got) != 8 {
		t.Errorf("incremental pass published %v, want 1 invoice and 3 suppliers", got)
	}
	w.assertTruth(ctx)

	// The cursors read back cover exactly what the instance has.
	cur := w.cursors(ctx)
	for _, tb := range w.tables {
		c, ok := cur[offsets.Key{Instance: w.client.Instance(), Table: tb.Name}]
		if !ok {
			t.Errorf("%s: no cursor in %s", tb.Name, w.offsets)
			continue
		}
		for _, st := range w.sim.States(tb.Name) {
			if !c.Covers(st.UpdatedAt, st.ID) {
				t.Errorf("%s: cursor %s does not cover record %d of %s", tb.Name, c, st.ID, st.UpdatedAt)
				break
			}
		}
	}

	// Real Kafka keeps what coupa-kafka asked for at creation.
	topics := []string{w.offsets}
	for _, tb := range w.tables {
		topics = append(topics, w.topic(tb.Name))
	}
	cfgs, err := w.admin().DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		if rc.Err != nil || policy != "compact" {
			t.Errorf("topic %s: cleanup.policy=%q (%v), want compact", rc.Name, policy, rc.Err)
		}
	}
	t.Logf("first pass published %d records", total)
}

// The instance changes while passes run, with every Coupa fault switched on;
// then the changes stop and a final pass runs: the topics equal the instance,
// with no version in them twice.
func TestMutationsDuringSyncWithFaults(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	w := newWorld(t, coupatest.Config{
		Seed: 3, UTCOffset: -7 * time.Hour, Adversarial: true, TokenTTL: 2 * time.Second, Deletes: true, LineChanges: true,
		Records: map[string]int{"invoices": 400, "suppliers": 150, "users": 100, "purchase_orders": 150},
	}, "invoices", "suppliers", "users", "purchase_orders")
	w.sim.SetSkew(90 * time.Second)
	f := w.sim.Faults()
	f.ServerErrors(0.1)
	f.Truncate(0.1)
	f.SetRateLimit(10, 3) // a 429 storm: the client asks for far more
	f.RateLimit(true)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.sim.Churn(stop, 20*time.Millisecond, "invoices", "suppliers", "users", "purchase_orders")
	}()
	for range 4 {
		w.sync(ctx, w.sweepEveryPass, func(c *producer.Config) { c.BatchRecords = 40 })
	}
	close(stop)
	wg.Wait()
	f.Reset()
	f.RateLimit(false)
	time.Sleep(1100 * time.Millisecond) // let the last second close
	w.sync(ctx, w.sweepEveryPass)
	tombstoned := w.assertTruth(ctx)
	st := w.client.Stats()
	t.Logf("requests %d, 429s %d; tombstoned %v", st.Total(), st.Throttled, tombstoned)
	w.assertDeletesTested(tombstoned)
}

// A second process syncing the same table takes it over on the real broker;
// the first stops that table with a clear error, and nothing it wrote
// before is lost or doubled.
func TestSecondProducerFencesFirst(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 300}}, "users")
	first := w.producer(ctx, func(c *producer.Config) { c.BatchRecords = 50 })
	defer first.Close()
	second := w.producer(ctx, func(c *producer.Config) { c.BatchRecords = 50 })
	defer second.Close()
	_, err := first.Sync(ctx)
	var fenced *producer.FencedError
	if !errors.As(err, &fenced) || !strings.Contains(err.Error(), "another coupa-kafka process now owns this table") {
		t.Fatalf("first producer: %v, want a FencedError", err)
	}
	if n := w.read(ctx, "users").Records; n != 0 {
		t.Errorf("the fenced producer committed %d records", n)
	}
	if _, err := second.Sync(ctx); err != nil {
		t.Fatalf("second producer: %v", err)
	}
	w.assertTruth(ctx)

	// Fencing also works the other way round, mid-table: a third process
	// takes over from the second, which then fails its next pass.
	third := w.producer(ctx)
	defer third.Close()
	w.sim.Update("users", anyID(t, w.sim, "users"))
	time.Sleep(1100 * time.Millisecond)
	if _, err := second.Sync(ctx); !errors.As(err, &fenced) {
		t.Fatalf("second producer after a third started: %v, want a FencedError", err)
	}
	if _, err := third.Sync(ctx); err != nil {
		t.Fatalf("third producer: %v", err)
	}
	w.assertTruth(ctx)
}

// An existing table topic that is not compacted is refused with the command
// that fixes it, and works once fixed as the message says.
func TestRefusesTopicThatIsNotCompacted(t *testing.T) {
	ctx := testContext(t, time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 10}}, "users")
	adm := w.admin()
	del := "delete"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &del}, w.topic("users")); err != nil {
		t.Fatal(err)
	}
	_, err := producer.New(ctx, w.config())
	if err == nil || !strings.Contains(err.Error(), "cleanup.policy=delete") ||
		!strings.Contains(err.Error(), "--alter --entity-type topics --entity-name "+w.topic("users")+" --add-config cleanup.policy=compact") {
		t.Fatalf("error %v, want a refusal that says how to fix it", err)
	}
	if ok, _ := topicExists(ctx, w, w.offsets); ok {
		t.Errorf("a refused start created the offsets topic %s", w.offsets)
	}
	compact := "compact"
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: &compact}}, w.topic("users"))
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	w.sync(ctx)
	w.assertTruth(ctx)
}

func topicExists(ctx context.Context, w *world, topic string) (bool, error) {
	l, err := w.admin().ListTopics(ctx, topic)
	if err != nil {
		return false, err
	}
	return l.Has(topic), nil
}

// mutate plays a busy instance until stop: updates, inserts, a 120-record
// bulk edit in one second, late-visible writes inside the lookback, and
// token expiry, one change every pace.
func anyID(t *testing.T, sim *coupatest.Server, table string) int64 {
	t.Helper()
	for _, s := range sim.States(table) {
		return s.ID
	}
	t.Fatalf("%s is empty", table)
	return 0
}

// TestEveryCatalogTableOnRealKafka is COUPA_TABLES=all on the real broker:
// every catalog table, the instance churning all of them during the first
// syncs, then a final sync; every topic must equal the instance, and a
// consumer that is not ours (Python) reads them all.
func TestEveryCatalogTableOnRealKafka(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	records := map[string]int{}
	var names []string
	for _, tb := range coupa.Catalog {
		records[tb.Name] = 60
		names = append(names, tb.Name)
	}
	w := newWorld(t, coupatest.Config{Seed: 19, UTCOffset: -7 * time.Hour, Adversarial: true, Deletes: true, Records: records}, names...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.sim.Churn(stop, 5*time.Millisecond, names...)
	}()
	for range 2 {
		w.sync(ctx, w.sweepEveryPass, func(c *producer.Config) { c.BatchRecords = 40 })
	}
	close(stop)
	wg.Wait()
	time.Sleep(1100 * time.Millisecond) // let the last second close
	// The first finishes sweeps under way; the second sweeps every table whole.
	w.sync(ctx, w.sweepEveryPass)
	w.sync(ctx, w.sweepEveryPass)
	tombstoned := w.assertTruth(ctx)
	total := 0
	for _, n := range tombstoned {
		total += n
	}
	t.Logf("%d tables, %d tombstones", len(names), total)
	pycheck(t, ctx, w)
}
