package coupa_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// TestRateLimitStorm: the instance allows far fewer requests than the client
// is configured for, and several tables list at once. The one shared budget
// must come down below the instance's limit (Rate), every call must finish,
// and once the budget has adapted 429s must be rare: a client that only
// retried each call with its own backoff, or kept one budget per table,
// would keep hammering and collect 429s on most of its requests.
func TestRateLimitStorm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		retryAfter bool
	}{
		{"no Retry-After", false},
		{"Retry-After sent", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const (
				configured = 80.0
				allowed    = 20.0
			)
			sim := newSim(t, nil)
			sim.Faults().SetRateLimit(allowed, 5)
			sim.Faults().SendRetryAfter(tc.retryAfter)
			sim.Faults().RateLimit(true)
			obs := newObserver()
			c := newClient(t, sim, func(cfg *coupa.Config) {
				cfg.RateLimit, cfg.Burst = configured, 10
				cfg.Observer = obs
				cfg.MaxRetryTime = time.Minute
			})
			names := []string{"invoices", "purchase_orders", "suppliers", "users"}
			// storm lists from every table at once until stop says so; it
			// returns the number of calls that succeeded.
			storm := func(stop func(calls int) bool) int64 {
				var wg sync.WaitGroup
				var done atomic.Int64
				for _, name := range names {
					tb := table(t, name)
					wg.Go(func() {
						for i := 0; !stop(i) && !t.Failed(); i++ {
							p, err := c.List(t.Context(), tb, coupa.Query{OrderBy: "id", Limit: 5, Offset: 5 * (i % 4)})
							if err != nil {
								t.Errorf("%s call %d: %v", name, i, err)
								return
							}
							if len(p.Records) != 5 {
								t.Errorf("%s call %d: %d records", name, i, len(p.Records))
							}
							done.Add(1)
						}
					})
				}
				wg.Wait()
				return done.Load()
			}
			// Adapting: until the budget is below the instance's limit.
			warm := storm(func(i int) bool { return c.Rate() < allowed || i >= 100 })
			if r := c.Rate(); r >= allowed {
				t.Fatalf("after %d calls the budget is still %.1f/s, above the instance's %v/s", warm, r, allowed)
			}
			before := sim.Stats().Throttled
			if before == 0 {
				t.Fatal("the instance never throttled: the test proves nothing")
			}
			// Adapted: the same load again, with few 429s.
			const perTable = 10
			calls := storm(func(i int) bool { return i >= perTable })
			st := sim.Stats()
			t.Logf("adapting: %d calls, %d 429s; adapted: %d calls, %d 429s; rate now %.1f/s",
				warm, before, calls, st.Throttled-before, c.Rate())
			if calls != perTable*int64(len(names)) {
				t.Fatalf("%d of %d calls finished", calls, perTable*len(names))
			}
			if n := st.Throttled - before; n > calls/4 {
				t.Errorf("%d 429s for %d calls after adapting: the client did not stay slow", n, calls)
			}
			// The client's counters agree with what the instance answered, and
			// the observer heard every attempt. The instance counts an answer
			// after writing it, so give its counters a moment to catch up.
			cs := c.Stats()
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				st = sim.Stats()
				caught := st.Throttled == cs.Throttled
				for _, name := range names {
					caught = caught && st.Total(name, http.StatusOK) == cs.Requests[name][http.StatusOK]
				}
				if caught {
					break
				}
			}
			if cs.Throttled != st.Throttled {
				t.Errorf("client counted %d 429s, the instance sent %d", cs.Throttled, st.Throttled)
			}
			for _, name := range names {
				for _, status := range []int{http.StatusOK, http.StatusTooManyRequests} {
					want := st.Total(name, status)
					if got := cs.Requests[name][status]; got != want {
						t.Errorf("%s %d: client counted %d, instance answered %d", name, status, got, want)
					}
					if got := obs.count(name, status); got != want {
						t.Errorf("%s %d: observer heard %d, instance answered %d", name, status, got, want)
					}
				}
			}
		})
	}
}

// signalWriter is a log sink that closes ready at the first write holding
// marker: the client logs a retry only after it has handled the failure.
type signalWriter struct {
	syncBuffer
	marker string
	once   sync.Once
	ready  chan struct{}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	n, err := s.syncBuffer.Write(p)
	if strings.Contains(string(p), s.marker) {
		s.once.Do(func() { close(s.ready) })
	}
	return n, err
}

// TestRetryAfterHonoured: Coupa documents no Retry-After, but if a 429 ever
// carries one, nothing may reach the instance before it has passed: not the
// throttled call's retry, and not another table's request (the limit is per
// instance). Both are checked by arrival time at the instance, a lower
// bound the client's timers cannot undercut.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value func() string
	}{
		{"seconds", func() string { return "1" }},
		{"HTTP date", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var throttledAt time.Time
			arrivals := map[string][]time.Time{}
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/oauth2/token" {
					w.Write([]byte(`{"access_token":"t0k3n-value","token_type":"bearer","expires_in":3600}`))
					return
				}
				mu.Lock()
				defer mu.Unlock()
				arrivals[r.URL.Path] = append(arrivals[r.URL.Path], time.Now())
				if throttledAt.IsZero() {
					throttledAt = time.Now()
					w.Header().Set("Retry-After", tc.value())
					w.WriteHeader(http.StatusTooManyRequests)
					w.Write([]byte(`{"errors":{"base":["Rate limit exceeded"]}}`))
					return
				}
				w.Write([]byte(`[]`))
			}))
			defer srv.Close()
			logs := &signalWriter{marker: "retrying", ready: make(chan struct{})}
			c, err := coupa.New(coupa.Config{InstanceURL: srv.URL, ClientID: "id", ClientSecret: "secret",
				HTTPClient: srv.Client(), RateLimit: 1000, Burst: 100, MaxRetryTime: 30 * time.Second, Logger: debugLogger(logs)})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{}); err != nil {
					t.Error(err)
				}
			})
			// Another table starts once the 429 has been handled.
			wg.Go(func() {
				select {
				case <-logs.ready:
				case <-time.After(30 * time.Second):
					t.Error("no retry was logged")
					return
				}
				if _, err := c.List(t.Context(), table(t, "users"), coupa.Query{}); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			inv, users := arrivals["/api/invoices"], arrivals["/api/users"]
			if len(inv) != 2 || len(users) != 1 {
				t.Fatalf("requests: %d invoices, %d users; want 2 and 1", len(inv), len(users))
			}
			if d := inv[1].Sub(throttledAt); d < time.Second {
				t.Errorf("the throttled call retried %v after the 429, before Retry-After passed", d)
			}
			if d := users[0].Sub(throttledAt); d < time.Second {
				t.Errorf("another table's request came %v after the 429, before Retry-After passed", d)
			}
		})
	}
}
