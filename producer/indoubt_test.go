package producer

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/faultproxy"
)

// A lost answer, placed by the fault proxy between the transactional
// producer and the broker. Times covers every attempt franz-go makes with
// doubtClientOpts, so the error reaches the producer.
type doubtCase struct {
	name  string
	fault faultproxy.Fault
	// outcome is how the commits in doubt must settle: "committed",
	// "aborted", or "" where the producer is never in doubt (the answer
	// arrived, or the failure came before the commit).
	outcome string
}

var doubtCases = []doubtCase{
	{"answer lost after commit", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.DropResponse, Times: doubtAttempts}, "committed"},
	{"connection reset after commit", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.DropResponse, Times: doubtAttempts, Reset: true}, "committed"},
	{"cut before the commit reached the broker", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.CutBeforeForward, Times: doubtAttempts}, "aborted"},
	{"NOT_COORDINATOR, commit never sent", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.ReplyError, ErrorCode: 16, Times: doubtAttempts}, "aborted"},
	{"COORDINATOR_LOAD_IN_PROGRESS after commit", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.ReplaceError, ErrorCode: 14, Times: doubtAttempts}, "committed"},
	{"request timeout after commit", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.HoldResponse, Times: doubtAttempts}, "committed"},
	{"cut after the answer", faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.CutAfterResponse, Times: 1}, ""},
	{"produce answer lost", faultproxy.Fault{API: kmsg.Produce.Int16(), Action: faultproxy.DropResponse, Times: 1}, ""},
	{"produce answers lost beyond retries", faultproxy.Fault{API: kmsg.Produce.Int16(), Action: faultproxy.DropResponse, Times: 3 * doubtAttempts, Reset: true}, ""},
}

// doubtAttempts is how many times franz-go sends one request with
// doubtClientOpts (the first try and its retries).
const doubtAttempts = 3

// doubtClientOpts make franz-go give up on a lost answer quickly (the
// defaults retry for up to 30 s), so that a test sees many commits in doubt.
func doubtClientOpts(px *faultproxy.Proxy) []kgo.Opt {
	return []kgo.Opt{
		kgo.Dialer(px.DialContext),
		kgo.RequestRetries(doubtAttempts - 1),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.RecordRetries(doubtAttempts - 1),
		kgo.RequestTimeoutOverhead(time.Second),
		// A produce retried after a cut waits for a metadata refresh.
		kgo.MetadataMinAge(50 * time.Millisecond),
	}
}

// TestCommitInDoubtIsSettled loses the answer of at least 20 commits (or
// produces) per case, under mutations, and checks that every one is
// settled the right way and that the topic ends equal to the instance: no
// version missing, none published twice.
func TestCommitInDoubtIsSettled(t *testing.T) {
	for _, tc := range doubtCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 4*time.Minute)
			h := newHarness(t, coupatest.Config{Seed: 21, Adversarial: true, Records: map[string]int{"suppliers": 400}}, "suppliers")
			px := faultproxy.New()
			t.Cleanup(func() { px.Close() })
			m := NewMetrics()
			const want = 20
			fired := armRepeatedly(ctx, t, px, tc.fault, want, func() float64 {
				return testutil.ToFloat64(m.txns.WithLabelValues("suppliers", "commit"))
			})
			stop := make(chan struct{})
			go h.sim.Churn(stop, 20*time.Millisecond, "suppliers")
			for round := 0; <-fired < want; round++ {
				if round > 40 {
					t.Fatalf("%d faults fired after %d syncs", <-fired, round)
				}
				h.sync(ctx, func(c *Config) {
					c.BatchRecords = 10
					c.Metrics = m
					c.CommitTimeout = 20 * time.Second
					c.ProducerOpts = func(string) []kgo.Opt { return doubtClientOpts(px) }
				})
				h.sim.Insert("suppliers", 15)
				h.sim.BulkUpdate("suppliers", 60) // one updated_at for 60 records
			}
			close(stop)
			px.Disarm()
			time.Sleep(1100 * time.Millisecond) // the last changes become older than the bound
			h.sync(ctx, func(c *Config) { c.Metrics = m })
			h.assertTruth(ctx)

			committed := testutil.ToFloat64(m.inDoubts.WithLabelValues("suppliers", "committed"))
			aborted := testutil.ToFloat64(m.inDoubts.WithLabelValues("suppliers", "aborted"))
			t.Logf("faults fired %d; in doubt: %v committed, %v aborted; commits %v, aborts %v", px.Fired(tc.fault.API), committed, aborted,
				testutil.ToFloat64(m.txns.WithLabelValues("suppliers", "commit")), testutil.ToFloat64(m.txns.WithLabelValues("suppliers", "abort")))
			if px.Fired(tc.fault.API) < want {
				t.Errorf("the fault fired %d times, want >= %d", px.Fired(tc.fault.API), want)
			}
			switch tc.outcome {
			case "committed":
				if committed < want || aborted != 0 {
					t.Errorf("in doubt: %v committed, %v aborted; want >= %d committed, none aborted", committed, aborted, want)
				}
			case "aborted":
				if aborted < want || committed != 0 {
					t.Errorf("in doubt: %v committed, %v aborted; want >= %d aborted, none committed", committed, aborted, want)
				}
			default:
				if committed+aborted != 0 {
					t.Errorf("in doubt: %v committed, %v aborted; want none", committed, aborted)
				}
			}
		})
	}
}

// armRepeatedly arms f, waits until it has fired all its Times and a commit
// has succeeded since, and arms it again, until it has been armed want
// times or ctx ends. The channel tells how many arms have fully fired.
func armRepeatedly(ctx context.Context, t *testing.T, px *faultproxy.Proxy, f faultproxy.Fault, want int, commits func() float64) <-chan int {
	out := make(chan int)
	go func() {
		const (
			idle = iota
			armed
			awaitingCommit
		)
		state, done := idle, 0
		var commitsAtFire float64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			switch {
			case state == idle && done < want:
				if err := px.Arm(f); err != nil {
					t.Error(err)
					return
				}
				state = armed
			case state == armed && px.Pending() == 0:
				state, done, commitsAtFire = awaitingCommit, done+1, commits()
			case state == awaitingCommit && commits() > commitsAtFire:
				state = idle
			}
			select {
			case out <- done:
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
