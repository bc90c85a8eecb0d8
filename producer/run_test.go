package producer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestRunPacesTablesByWhatTheyFind: under Run, a table whose pass published
// changes is polled again after Poll.Min, an idle one backs off to
// Poll.Max, and all of them together start no more passes than the budget
// allows.
func TestRunPacesTablesByWhatTheyFind(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 51, Records: map[string]int{"users": 30, "suppliers": 30}}, "users", "suppliers")
	p := h.producer(ctx)
	defer p.Close()
	poll := Poll{Min: 20 * time.Millisecond, Max: 160 * time.Millisecond, Budget: 25}
	type pass struct {
		published int
		next      time.Duration
	}
	var (
		mu     sync.Mutex
		passes = map[string][]pass{}
	)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- p.Run(runCtx, poll, func(r PassResult, err error) {
			if err != nil {
				t.Errorf("pass of %s: %v", r.Table, err)
			}
			mu.Lock()
			passes[r.Table] = append(passes[r.Table], pass{r.Published, r.NextPass})
			mu.Unlock()
		})
	}()
	// users changes all the time (a different record each time: one that
	// changes every instant stays past every pass's bound); suppliers never
	// after its backfill.
	users := h.sim.States("users")
	for i := 0; time.Since(start) < 5*time.Second; i++ {
		h.sim.Update("users", users[i%len(users)].ID)
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	jittered := func(d, want time.Duration) bool { return d >= want*9/10 && d <= want*11/10 }
	for table, ps := range passes {
		for i, ps := range ps {
			switch {
			case ps.published > 0 && !jittered(ps.next, poll.Min):
				t.Errorf("%s pass %d published %d and waits %v, want Min %v", table, i, ps.published, ps.next, poll.Min)
			case ps.published == 0 && ps.next < poll.Min*2*9/10:
				t.Errorf("%s pass %d found nothing and waits only %v", table, i, ps.next)
			}
		}
	}
	sup := passes["suppliers"]
	if len(sup) < 5 || !jittered(sup[len(sup)-1].next, poll.Max) {
		t.Errorf("the idle table's passes %v do not back off to Max %v", sup, poll.Max)
	}
	busy := 0
	for _, ps := range passes["users"] {
		if ps.published > 0 {
			busy++
		}
	}
	if busy < 3 {
		t.Errorf("only %d passes of the busy table published its changes: %v", busy, passes["users"])
	}
	total := len(passes["users"]) + len(passes["suppliers"])
	if limit := int(poll.Budget*elapsed.Seconds()) + 2; total > limit {
		t.Errorf("%d passes in %v, over the budget of %g/s (burst 2): at most %d", total, elapsed, poll.Budget, limit)
	}
}

// TestBackfillDoesNotStarvePolling: while one table backfills at the full
// request budget, another table's change is published: a backfill is one
// pass start, and its pages share the client's budget with other polls.
func TestBackfillDoesNotStarvePolling(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 52, Records: map[string]int{"invoices": 5000, "users": 20}}, "invoices", "users")
	slow, err := coupa.New(coupa.Config{
		InstanceURL: h.sim.URL(), ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
		HTTPClient: h.sim.HTTPClient(), RateLimit: 20, Burst: 5, MaxRetryTime: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := h.producer(ctx, func(c *Config) { c.Coupa = slow })
	defer p.Close()
	var (
		mu              sync.Mutex
		invoicesDone    bool
		userSeenMidFill bool
		usersPasses     int
	)
	changed := h.sim.States("users")[3].ID
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.Run(runCtx, Poll{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond, Budget: -1}, func(r PassResult, err error) {
			mu.Lock()
			defer mu.Unlock()
			switch r.Table {
			case "invoices":
				invoicesDone = true
			case "users":
				if usersPasses++; usersPasses == 1 {
					h.sim.Update("users", changed) // after the users backfill
				} else if r.Published > 0 && !invoicesDone {
					userSeenMidFill = true
				}
			}
		})
	}()
	for {
		mu.Lock()
		finished := invoicesDone
		mu.Unlock()
		if finished {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !userSeenMidFill {
		t.Errorf("the users change was not published while invoices backfilled (%d users passes)", usersPasses)
	}
}
