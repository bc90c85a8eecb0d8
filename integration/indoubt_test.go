//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/faultproxy"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// TestCommitInDoubtIsSettled is producer's test of the same name against the
// real broker: at least 20 lost answers per case of faultproxy.LostAnswers,
// placed by a fault-injecting proxy between the producer and Kafka, while
// the instance changes; every commit in doubt settles the right way and the
// topic ends equal to the instance.
func TestCommitInDoubtIsSettled(t *testing.T) {
	for _, tc := range faultproxy.LostAnswers {
		// Not in parallel: the transactional id is per (instance, table),
		// and every world's simulator is the instance 127.0.0.1.
		t.Run(tc.Name, func(t *testing.T) {
			ctx := testContext(t, 3*time.Minute)
			w := newWorld(t, coupatest.Config{Seed: 23, Adversarial: true, Records: map[string]int{"suppliers": 300}}, "suppliers")
			px := faultproxy.New()
			t.Cleanup(func() { px.Close() })
			m := producer.NewMetrics()
			commits := func() float64 { return txnCounts(t, m)["commit"] }
			const want = 20
			w.sync(ctx) // the backfill, before any fault: the coordinator is ready then
			fired, err := px.ArmRepeatedly(ctx, tc.Fault, want, commits)
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go w.sim.Churn(stop, 30*time.Millisecond, "suppliers")
			for <-fired < want {
				if ctx.Err() != nil {
					t.Fatalf("%d faults used up before the deadline", <-fired)
				}
				w.sync(ctx, func(c *producer.Config) {
					c.BatchRecords = 10
					c.Metrics = m
					c.CommitTimeout = 30 * time.Second
					c.ProducerOpts = func(string) []kgo.Opt { return px.ClientOpts() }
				})
				w.sim.Insert("suppliers", 15)
				w.sim.BulkUpdate("suppliers", 60) // one updated_at for 60 records
			}
			close(stop)
			px.Disarm()
			time.Sleep(1100 * time.Millisecond) // the last changes become older than the bound
			w.sync(ctx, func(c *producer.Config) { c.Metrics = m })
			w.assertTruth(ctx)

			doubts := counterSums(t, m, "coupa_kafka_transactions_in_doubt_total", "outcome")
			t.Logf("faults fired %d; in doubt: %v; transactions: %v", px.Fired(tc.Fault.API), doubts, txnCounts(t, m))
			if err := tc.Check(px.Fired(tc.Fault.API), want, doubts["committed"], doubts["aborted"]); err != nil {
				t.Error(err)
			}
		})
	}
}
