package producer

import (
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestMutationsDuringSync changes the instance while passes run, with every
// fault switched on, records deleted, lines dropped and purchase order lines
// changing on their own, then stops the
// changes and runs a final pass and sweep: the topics must equal the
// instance, with no version published twice, a tombstone for every deleted
// record and dropped line and none for a live one.
func TestMutationsDuringSync(t *testing.T) {
	for _, skew := range []time.Duration{90 * time.Second, -90 * time.Second} {
		t.Run("skew "+skew.String(), func(t *testing.T) {
			ctx := testContext(t, 4*time.Minute)
			h := newHarness(t, coupatest.Config{
				Seed: 3, UTCOffset: -7 * time.Hour, Adversarial: true, TokenTTL: 2 * time.Second, Deletes: true, LineChanges: true,
				Records: map[string]int{"invoices": 400, "suppliers": 150, "users": 100, "purchase_orders": 150},
			}, "invoices", "suppliers", "users", "purchase_orders")
			h.sim.SetSkew(skew)
			f := h.sim.Faults()
			f.ServerErrors(0.1)
			f.Truncate(0.1)
			f.SetRateLimit(10, 3) // a 429 storm: the client asks for far more
			f.RateLimit(true)

			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.sim.Churn(stop, 20*time.Millisecond, "invoices", "suppliers", "users", "purchase_orders")
			}()
			for range 4 {
				h.sync(ctx, h.sweepEveryPass, func(c *Config) { c.BatchRecords = 40 })
			}
			close(stop)
			wg.Wait()
			f.Reset()
			f.RateLimit(false)
			time.Sleep(1100 * time.Millisecond) // let the last second close
			h.sync(ctx, h.sweepEveryPass)
			reps := h.assertTruth(ctx)
			st := h.client.Stats()
			t.Logf("requests %d, 429s %d; tombstoned: %d invoices, %d invoice lines, %d suppliers, %d users", st.Total(), st.Throttled,
				reps["invoices"].Tombstoned, reps["invoice_lines"].Tombstoned, reps["suppliers"].Tombstoned, reps["users"].Tombstoned)
			if len(h.sim.Deleted("invoices")) == 0 || reps["invoice_lines"].Tombstoned == 0 {
				t.Error("the churn deleted no invoice or dropped no line: the deletes are not tested")
			}
		})
	}
}
