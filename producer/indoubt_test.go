package producer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/faultproxy"
)

// TestCommitInDoubtIsSettled loses the answer of at least 20 commits (or
// produces) per case of faultproxy.LostAnswers, through a fault-injecting
// proxy between the producer and kfake, while the instance changes (churn,
// 60-record bulk edits), and checks that every commit in doubt settles the
// right way and that the topic ends equal to the instance: no version
// missing, none published twice. integration/indoubt_test.go runs the same
// cases against a real broker.
func TestCommitInDoubtIsSettled(t *testing.T) {
	for _, tc := range faultproxy.LostAnswers {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 4*time.Minute)
			h := newHarness(t, coupatest.Config{Seed: 21, Adversarial: true, Records: map[string]int{"suppliers": 400}}, "suppliers")
			px := faultproxy.New()
			t.Cleanup(func() { px.Close() })
			m := NewMetrics()
			count := func(v *prometheusCounter, labels ...string) float64 {
				return testutil.ToFloat64(v.WithLabelValues(labels...))
			}
			const want = 20
			h.sync(ctx) // the backfill, before any fault: the coordinator is ready then
			fired, err := px.ArmRepeatedly(ctx, tc.Faults, want, func() float64 { return count(m.txns, "suppliers", "commit") })
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go h.sim.Churn(stop, 20*time.Millisecond, "suppliers")
			for <-fired < want {
				if ctx.Err() != nil {
					t.Fatalf("%d faults used up before the deadline", <-fired)
				}
				h.sync(ctx, func(c *Config) {
					c.BatchRecords = 10
					c.Metrics = m
					c.CommitTimeout = 20 * time.Second
					c.ProducerOpts = func(string) []kgo.Opt { return px.ClientOpts() }
				})
				h.sim.Insert("suppliers", 15)
				h.sim.BulkUpdate("suppliers", 60) // one updated_at for 60 records
			}
			close(stop)
			px.Disarm()
			time.Sleep(1100 * time.Millisecond) // the last changes become older than the bound
			h.sync(ctx, func(c *Config) { c.Metrics = m })
			h.assertTruth(ctx)

			committed, aborted := count(m.inDoubts, "suppliers", "committed"), count(m.inDoubts, "suppliers", "aborted")
			t.Logf("faults fired %d; in doubt: %v committed, %v aborted; transactions: %v committed, %v aborted", px.Fired(tc.API()),
				committed, aborted, count(m.txns, "suppliers", "commit"), count(m.txns, "suppliers", "abort"))
			if err := tc.Check(px.Fired(tc.API()), want, committed, aborted); err != nil {
				t.Error(err)
			}
		})
	}
}

type prometheusCounter = prometheus.CounterVec

// TestCommitInDoubtUnsettledAtShutdown: the answer of a commit is lost and
// Kafka stays out of reach (every InitProducerId is cut) until the pass is
// cancelled. The table is then marked stale; the next pass of the same
// producer reloads its state from Kafka first and ends equal to the
// instance, without publishing anything twice.
func TestCommitInDoubtUnsettledAtShutdown(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 22, Records: map[string]int{"suppliers": 300}}, "suppliers")
	h.sync(ctx)
	h.sim.Insert("suppliers", 40)
	h.sim.BulkUpdate("suppliers", 60)
	time.Sleep(1100 * time.Millisecond)
	px := faultproxy.New()
	t.Cleanup(func() { px.Close() })
	p := h.producer(ctx, func(c *Config) {
		c.BatchRecords = 10
		c.CommitTimeout = 2 * time.Second
		c.ProducerOpts = func(string) []kgo.Opt { return px.ClientOpts() }
	})
	defer p.Close()
	endTxn, initPID := kmsg.EndTxn.Int16(), kmsg.InitProducerID.Int16()
	for _, f := range []faultproxy.Fault{
		{API: endTxn, Action: faultproxy.DropResponse, Times: faultproxy.Attempts},
		{API: initPID, Action: faultproxy.CutBeforeForward, Times: 1_000_000},
	} {
		if err := px.Arm(f); err != nil {
			t.Fatal(err)
		}
	}
	passCtx, cancel := context.WithCancel(ctx)
	go func() {
		for px.Fired(initPID) < 3 && ctx.Err() == nil { // settling is failing
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := p.Sync(passCtx)
	if err == nil || !strings.Contains(err.Error(), "still unknown") {
		t.Fatalf("sync with a commit in doubt and Kafka out of reach: %v, want the doubt reported", err)
	}
	if !p.tables[0].stale {
		t.Fatal("the table is not marked stale")
	}
	px.Disarm()
	if _, err := p.Sync(ctx); err != nil {
		t.Fatalf("the next pass: %v", err)
	}
	h.assertTruth(ctx)
}

// Once settling stops the table (another writer) or leaves it stale, no
// other slice of the pass may commit the batch it holds: its cursor would
// be built on the old in-memory state and overwrite what Kafka now holds.
func TestNothingCommitsAfterTheTableHalted(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 10}}, "users")
	p := h.producer(ctx)
	defer p.Close()
	ts := p.tables[0]
	batch := []pending{{id: 1, updatedAt: time.Now().UTC().Truncate(time.Second), value: []byte{0, 0, 0, 0, 1, 2}}}
	for name, halt := range map[string]func(){
		"stale":   func() { ts.stale, ts.stopped = true, nil },
		"stopped": func() { ts.stale, ts.stopped = false, errOtherWriter },
	} {
		halt()
		cm := newCommitter(ts)
		cm.slices = []sliceBook{{}}
		if a := cm.handle(ctx, batchRequest{batch: batch, pos: position{at: time.Now()}}); a.err == nil || !a.final {
			t.Errorf("%s: a batch was committed, or may be retried: %+v", name, a)
		}
		if err := cm.closeOnce(ctx); err == nil {
			t.Errorf("%s: the final cursor was written", name)
		}
	}
	if n := len(h.topic(ctx, "users").Last); n != 0 {
		t.Errorf("the topic has %d records", n)
	}
}
