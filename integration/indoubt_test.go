//go:build integration

package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 3*time.Minute)
			w := newWorld(t, coupatest.Config{Seed: 23, Adversarial: true, Records: map[string]int{"suppliers": 300}}, "suppliers")
			px := faultproxy.New()
			t.Cleanup(func() { px.Close() })
			m := producer.NewMetrics()
			commits := func() float64 { return txnCounts(t, m)["commit"] }
			const want = 20
			// Every world's simulator is the instance 127.0.0.1, and the
			// transactional id is per (instance, table): a name of its own
			// keeps parallel cases from fencing each other.
			instance := func(c *producer.Config) { c.Instance = strings.TrimSuffix(w.prefix, ".") }
			w.sync(ctx, instance) // the backfill, before any fault: the coordinator is ready then
			fired, err := px.ArmRepeatedly(ctx, tc.Faults, want, commits)
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go w.sim.Churn(stop, 30*time.Millisecond, "suppliers")
			for <-fired < want {
				if ctx.Err() != nil {
					t.Fatalf("%d faults used up before the deadline", <-fired)
				}
				w.sync(ctx, instance, func(c *producer.Config) {
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
			w.sync(ctx, instance, func(c *producer.Config) { c.Metrics = m })
			w.assertTruth(ctx)

			doubts := counterSums(t, m, "coupa_kafka_transactions_in_doubt_total", "outcome")
			t.Logf("faults fired %d; in doubt: %v; transactions: %v", px.Fired(tc.API()), doubts, txnCounts(t, m))
			if err := tc.Check(px.Fired(tc.API()), want, doubts["committed"], doubts["aborted"]); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBrokerKilledWithCommitInFlight kills the broker, and the transaction
// coordinator with it, while a commit's answer is held back by the proxy:
// the coordinator has the EndTxn request (and has usually logged
// PrepareCommit) when it dies, and finishes or aborts the transaction when
// it restarts. The producer's commit is in doubt every time; it settles it
// once the broker is back, and the topic ends equal to the instance.
// COUPA_IT_KILLS sets the number of kills (default 5: each costs a broker
// restart, about 6 s).
func TestBrokerKilledWithCommitInFlight(t *testing.T) {
	be := getBackend(t)
	if be.restart == nil {
		t.Skipf("the broker (%s) is not one scripts/kafka-local.sh runs: it cannot be killed from here", be.name)
	}
	kills := 5
	if n, err := strconv.Atoi(os.Getenv("COUPA_IT_KILLS")); err == nil && n > 0 {
		kills = n
	}
	ctx := testContext(t, time.Minute+time.Duration(kills)*30*time.Second)
	w := newWorld(t, coupatest.Config{Seed: 29, Adversarial: true, Records: map[string]int{"suppliers": 300}}, "suppliers")
	w.sync(ctx)
	px := faultproxy.New()
	t.Cleanup(func() { px.Close() })
	m := producer.NewMetrics()
	p := w.producer(ctx, func(c *producer.Config) {
		c.BatchRecords = 10
		c.Metrics = m
		c.ProducerOpts = func(string) []kgo.Opt {
			// The held answer must not time out before the kill.
			return append(px.ClientOpts(), kgo.RequestTimeoutOverhead(30*time.Second))
		}
	})
	defer p.Close()
	endTxn := kmsg.EndTxn.Int16()
	for i := range kills {
		w.sim.Insert("suppliers", 20)
		w.sim.BulkUpdate("suppliers", 40)
		time.Sleep(1100 * time.Millisecond) // the changes become older than the bound
		if err := px.Arm(faultproxy.Fault{API: endTxn, Action: faultproxy.HoldResponse}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := p.Sync(ctx)
			done <- err
		}()
		if err := poll(ctx, time.Millisecond, func() (bool, error) { return px.Fired(endTxn) > i, nil }); err != nil {
			t.Fatalf("kill %d: no commit reached the broker: %v", i+1, err)
		}
		time.Sleep(time.Duration(i%4) * 20 * time.Millisecond) // before or after the coordinator logged the decision
		if err := be.restart(ctx, "--kill"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("kill %d: sync across the broker crash: %v", i+1, err)
		}
	}
	w.assertTruth(ctx)
	doubts := counterSums(t, m, "coupa_kafka_transactions_in_doubt_total", "outcome")
	t.Logf("%d kills with a commit in flight; in doubt: %v; transactions: %v", kills, doubts, txnCounts(t, m))
	if got := int(doubts["committed"] + doubts["aborted"]); got != kills {
		t.Errorf("%d commits in doubt, want one per kill (%d)", got, kills)
	}
}
