//go:build integration

package integration

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// gatedLister lets each table read up to a share of its records freely;
// past it, list calls wait until release is closed. The broker can then be
// restarted while the sync is busy (transactions in flight, commits failing,
// clients reconnecting) without the sync ending before the broker is back,
// however long the restart takes.
type gatedLister struct {
	inner   producer.Lister
	release chan struct{}
	mu      sync.Mutex
	served  map[string]int
	limit   map[string]int
}

func (g *gatedLister) List(ctx context.Context, t coupa.Table, q coupa.Query) (coupa.Page, error) {
	g.mu.Lock()
	held := g.served[t.Name] >= g.limit[t.Name]
	g.mu.Unlock()
	if held {
		select {
		case <-g.release:
		case <-ctx.Done():
			return coupa.Page{}, ctx.Err()
		}
	}
	page, err := g.inner.List(ctx, t, q)
	g.mu.Lock()
	g.served[t.Name] += len(page.Records)
	g.mu.Unlock()
	return page, err
}

// The broker restarts in the middle of a sync (scripts/kafka-local.sh
// restart: same ports and data; --kill: a crash rather than a clean
// shutdown). The producer recovers by itself, retrying its failed
// transactions, and the sync ends without error equal to the truth.
func TestBrokerRestartDuringSync(t *testing.T) {
	for _, mode := range []string{"clean", "crash"} {
		t.Run(mode, func(t *testing.T) {
			be := getBackend(t)
			if be.restart == nil {
				t.Skipf("the broker (%s) is not one scripts/kafka-local.sh runs: it cannot be restarted from here", be.name)
			}
			ctx := testContext(t, 5*time.Minute)
			records := map[string]int{"invoices": 800, "purchase_orders": 600, "suppliers": 600, "users": 600}
			w := newWorld(t, coupatest.Config{Seed: 31, UTCOffset: -7 * time.Hour, Records: records},
				"invoices", "purchase_orders", "suppliers", "users")
			w.sim.Faults().Latency(20*time.Millisecond, 5*time.Millisecond)
			gate := &gatedLister{inner: w.client, release: make(chan struct{}), served: map[string]int{}, limit: map[string]int{}}
			for name, n := range records {
				gate.limit[name] = n * 6 / 10
			}
			metrics := producer.NewMetrics()
			p := w.producer(ctx, func(c *producer.Config) {
				c.Coupa = gate
				c.BatchRecords = 50
				c.BatchLinger = 200 * time.Millisecond
				c.Metrics = metrics
			})
			defer p.Close()

			type result struct {
				res []producer.PassResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := p.Sync(ctx)
				done <- result{res, err}
			}()
			released := false
			defer func() {
				if !released {
					close(gate.release)
				}
			}()

			// Restart once the sync has committed something.
			adm := w.admin()
			committed := func() int64 {
				var n int64
				if l, err := adm.ListCommittedOffsets(ctx, w.topics()...); err == nil {
					l.Each(func(o kadm.ListedOffset) { n += o.Offset })
				}
				return n
			}
			if err := poll(ctx, 20*time.Millisecond, func() (bool, error) { return committed() > 0, nil }); err != nil {
				t.Fatalf("the sync committed nothing: %v", err)
			}
			before := committed()
			args := []string{}
			if mode == "crash" {
				args = append(args, "--kill")
			}
			start := time.Now()
			if err := be.restart(ctx, args...); err != nil {
				t.Fatal(err)
			}
			t.Logf("broker restarted (%s) in %s; %d record offsets committed before", mode, time.Since(start).Round(time.Millisecond), before)
			select {
			case r := <-done:
				t.Fatalf("the sync ended while the broker restarted (err %v): the gate should hold it", r.err)
			default:
			}
			close(gate.release)
			released = true

			r := <-done
			if r.err != nil {
				t.Fatalf("sync across a broker restart: %v", r.err)
			}
			published := 0
			for _, pr := range r.res {
				published += pr.Published
			}
			if want := w.sim.Count("invoices") + w.sim.Count("purchase_orders") + w.sim.Count("suppliers") + w.sim.Count("users"); published != want {
				t.Errorf("the sync published %d records, the instance has %d", published, want)
			}
			if after := committed(); after <= before {
				t.Errorf("nothing was committed after the restart (%d before, %d after)", before, after)
			}
			t.Logf("transactions: %v", txnCounts(t, metrics))
			w.assertTruth(ctx)
		})
	}
}

// txnCounts sums coupa_kafka_transactions_total by result.
func txnCounts(t *testing.T, m *producer.Metrics) map[string]float64 {
	return counterSums(t, m, "coupa_kafka_transactions_total", "result")
}

// counterSums sums a counter of m by the values of one of its labels.
func counterSums(t *testing.T, m *producer.Metrics, name, label string) map[string]float64 {
	out := map[string]float64{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += mt.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
