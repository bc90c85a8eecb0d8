package coupa_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// syncBuffer is a bytes.Buffer safe for a logger used by concurrent calls.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestTransientFailuresRetried: 5xx pages, Coupa's JSON 500 and bodies cut
// short all fail this attempt only. Exactly n injected failures cost exactly
// n extra requests, the call then returns the real page, and each failure is
// logged naming its status, content type and first bytes.
func TestTransientFailuresRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		faults  []coupatest.Fault
		logHas  []string
		badCode func(int) bool // the failed attempts' status
	}{
		{"5xx HTML page", []coupatest.Fault{coupatest.FaultServerErrorHTML, coupatest.FaultServerErrorHTML, coupatest.FaultServerErrorHTML},
			[]string{"server error", "HTTP 50", "text/html", "<html>"}, func(s int) bool { return s >= 502 && s <= 504 }},
		{"500 JSON", []coupatest.Fault{coupatest.FaultServerErrorJSON, coupatest.FaultServerErrorJSON},
			[]string{"HTTP 500", "application/json", "something went wrong"}, func(s int) bool { return s == 500 }},
		{"truncated JSON", []coupatest.Fault{coupatest.FaultTruncate, coupatest.FaultTruncate, coupatest.FaultTruncate},
			[]string{"HTTP 200", "application/json", "unexpected end", "body starts", "created-at"}, func(s int) bool { return s == 200 }},
		{"one of each", []coupatest.Fault{coupatest.FaultTruncate, coupatest.FaultServerErrorHTML, coupatest.FaultServerErrorJSON},
			[]string{"unexpected end", "text/html", "HTTP 500"}, func(s int) bool { return s == 200 || s >= 500 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			var logs syncBuffer
			obs := newObserver()
			c := newClient(t, sim, func(cfg *coupa.Config) { cfg.Logger = debugLogger(&logs); cfg.Observer = obs })
			for _, f := range tc.faults {
				sim.Faults().Inject(f, 1)
			}
			p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{OrderBy: "id", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			truth := sim.Truth("invoices")
			if len(p.Records) != 10 {
				t.Fatalf("%d records, want 10", len(p.Records))
			}
			for _, r := range p.Records {
				if string(r.Raw) != string(truth[r.ID].JSON) {
					t.Fatalf("record %d is not what the instance rendered", r.ID)
				}
			}
			st := sim.Stats()
			n := int64(len(tc.faults))
			if got := st.Total("invoices", 0); got != n+1 {
				t.Errorf("%d requests, want %d (%d failures and the success)", got, n+1, n)
			}
			var failed int64
			for status, k := range st.Requests["invoices"] {
				if tc.badCode(status) {
					failed += k
				}
			}
			if tc.badCode(200) {
				failed-- // the success
			}
			if failed != n {
				t.Errorf("instance answers %v, want %d failures", st.Requests["invoices"], n)
			}
			// The client's count by status agrees, and so does the observer.
			for status, k := range st.Requests["invoices"] {
				if got := c.Stats().Requests["invoices"][status]; got != k {
					t.Errorf("client counted %d answers %d, the instance sent %d", got, status, k)
				}
				if got := obs.count("invoices", status); got != k {
					t.Errorf("observer heard %d answers %d, the instance sent %d", got, status, k)
				}
			}
			if got := int64(strings.Count(logs.String(), "retrying")); got != n {
				t.Errorf("%d retries logged, want %d:\n%s", got, n, logs.String())
			}
			mustContainAll(t, logs.String(), tc.logHas...)
		})
	}
}

// TestPermanentNonJSON: an answer that is not JSON and would not change on
// a retry is an error at once, never an empty page. A login page (200
// text/html: an instance behind SSO) means the request is not recognised;
// retrying cannot fix that. The error names what came back.
func TestPermanentNonJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault coupatest.Fault
		want  []string
	}{
		{"login page", coupatest.FaultLoginPage, []string{"HTTP 200", "text/html", "not JSON", "<!DOCTYPE html>", "Sign In"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			c := newClient(t, sim, nil)
			sim.Faults().Inject(tc.fault, 1)
			p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{})
			if err == nil {
				t.Fatalf("a %s gave a page of %d records", tc.name, len(p.Records))
			}
			if coupa.IsTemporary(err) {
				t.Errorf("reported as temporary: %v", err)
			}
			var re *coupa.ResponseError
			if !errors.As(err, &re) || re.Status != 200 || !strings.HasPrefix(re.ContentType, "text/html") {
				t.Errorf("got %#v, want a ResponseError with the status and content type", err)
			}
			mustContainAll(t, err.Error(), tc.want...)
			if n := sim.Stats().Total("invoices", 0); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
}

// TestRetriesBounded: a failure that does not go away ends the call when
// MaxRetryTime has passed, with the last failure (temporary, naming what came
// back) after more than one attempt; never an empty page.
func TestRetriesBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(*coupatest.Faults)
		want  []string
	}{
		{"5xx", func(f *coupatest.Faults) { f.ServerErrors(1) }, []string{"server error"}},
		{"truncation", func(f *coupatest.Faults) { f.Truncate(1) }, []string{"HTTP 200", "application/json", "unexpected end"}},
		{"timeouts", func(f *coupatest.Faults) { f.Latency(5*time.Second, 0) }, []string{"request failed", "request timeout"}},
		{"429 without Retry-After", func(f *coupatest.Faults) { f.SetRateLimit(0.01, 1); f.RateLimit(true) }, []string{"HTTP 429", "rate limited"}},
		{"429 with Retry-After", func(f *coupatest.Faults) { f.SetRateLimit(0.01, 1); f.SendRetryAfter(true); f.RateLimit(true) }, []string{"HTTP 429", "still rate limited"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			obs := newObserver()
			c := newClient(t, sim, func(cfg *coupa.Config) {
				cfg.Observer = obs
				cfg.RequestTimeout = 5 * time.Second
				if tc.name == "timeouts" {
					cfg.RequestTimeout = 300 * time.Millisecond
				}
				cfg.MaxRetryTime = 1500 * time.Millisecond
			})
			tc.setup(sim.Faults())
			if strings.HasPrefix(tc.name, "429") {
				// Let one request through so the bucket is full.
				if _, err := c.List(t.Context(), table(t, "users"), coupa.Query{Limit: 1}); err != nil {
					t.Fatal(err)
				}
			}
			p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{})
			if err == nil {
				t.Fatalf("got a page of %d records from a failing instance", len(p.Records))
			}
			if !coupa.IsTemporary(err) {
				t.Errorf("not temporary: %v", err)
			}
			mustContainAll(t, err.Error(), tc.want...)
			var attempts int64
			for _, k := range obs.snapshot()["invoices"] {
				attempts += k
			}
			if attempts < 2 {
				t.Errorf("%d attempts: the failure was not retried", attempts)
			}
		})
	}
}

// TestEmptyBodyRetried: a 200 with no body at all (not even []) is an
// answer cut short, whatever its content type: retried, never an empty page.
func TestEmptyBodyRetried(t *testing.T) {
	t.Parallel()
	for _, ctype := range []string{"", "application/json", "text/html"} {
		t.Run("content type "+ctype, func(t *testing.T) {
			t.Parallel()
			var lists atomic.Int64
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth2/token" {
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":3600}`))
					return
				}
				if lists.Add(1) == 1 {
					if ctype != "" {
						w.Header().Set("Content-Type", ctype)
					}
					return // 200, empty
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`[{"id":7,"updated-at":"2024-01-02T03:04:05Z"}]`))
			}))
			defer srv.Close()
			c, err := coupa.New(coupa.Config{InstanceURL: srv.URL, ClientID: "id", ClientSecret: "secret",
				HTTPClient: srv.Client(), MaxRetryTime: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{})
			if err != nil || len(p.Records) != 1 || p.Records[0].ID != 7 {
				t.Fatalf("got %+v, %v; want the one record of the second answer", p.Records, err)
			}
			if n := lists.Load(); n != 2 {
				t.Errorf("%d list requests, want 2", n)
			}
		})
	}
}

// TestTimeoutRetried: an attempt slower than RequestTimeout is abandoned and
// retried; when the instance answers in time again, the call succeeds.
func TestTimeoutRetried(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	sim.Faults().Latency(10*time.Second, 0)
	obs := newObserver()
	obs.onReq = func(_ string, status int) {
		if status == 0 { // the first timeout: the instance recovers
			sim.Faults().Latency(0, 0)
		}
	}
	c := newClient(t, sim, func(cfg *coupa.Config) {
		cfg.Observer = obs
		cfg.RequestTimeout = 2 * time.Second
	})
	p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{Limit: 5})
	if err != nil || len(p.Records) != 5 {
		t.Fatalf("%d records, %v", len(p.Records), err)
	}
	if n := obs.count("invoices", 0); n != 1 {
		t.Errorf("%d timed-out attempts, want 1", n)
	}
	if n := c.Stats().Requests["invoices"][0]; n != 1 {
		t.Errorf("client counted %d transport failures, want 1", n)
	}
}

// resetProxy stands between the client and the simulator and resets the
// TCP connection of the next n list requests (RST, not a clean close).
type resetProxy struct {
	srv    *httptest.Server
	left   atomic.Int64
	resets atomic.Int64
}

func newResetProxy(t *testing.T, sim *coupatest.Server, n int64) *resetProxy {
	target, _ := url.Parse(sim.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = sim.HTTPClient().Transport
	p := &resetProxy{}
	p.left.Store(n)
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") && p.left.Add(-1) >= 0 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
				if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
					tcp.SetLinger(0) // Close sends RST
				}
			}
			conn.Close()
			p.resets.Add(1)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestConnectionResetRetried: a connection reset mid-request is a transport
// failure worth retrying; after n resets the call succeeds, each reset
// counted as status 0.
func TestConnectionResetRetried(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{1, 3} {
		t.Run(strings.Repeat("reset ", int(n)), func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			proxy := newResetProxy(t, sim, n)
			hc := proxy.srv.Client()
			// A fresh connection per request: net/http would otherwise
			// retry a GET on a reused connection by itself, and the
			// client's own retry would go untested.
			hc.Transport.(*http.Transport).DisableKeepAlives = true
			var logs syncBuffer
			c, err := coupa.New(coupa.Config{
				InstanceURL: proxy.srv.URL, ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
				HTTPClient: hc, RequestTimeout: 5 * time.Second, MaxRetryTime: 20 * time.Second, Logger: debugLogger(&logs),
			})
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{Limit: 5})
			if err != nil || len(p.Records) != 5 {
				t.Fatalf("%d records, %v", len(p.Records), err)
			}
			if got := proxy.resets.Load(); got != n {
				t.Errorf("%d resets, want %d", got, n)
			}
			if got := c.Stats().Requests["invoices"][0]; got != n {
				t.Errorf("client counted %d transport failures, want %d", got, n)
			}
			mustContainAll(t, logs.String(), "request failed")
			// Durations are text a person reads, not nanoseconds.
			if !regexp.MustCompile(`"retry_in":"[0-9.]+m?s"`).MatchString(logs.String()) {
				t.Errorf("retry_in is not a readable duration:\n%s", logs.String())
			}
		})
	}
}

// TestContextEndsCall: the caller's context bounds the whole call, whatever
// it is waiting for (an answer, a backoff, the rate budget), and the error
// says so (errors.Is context.Canceled or DeadlineExceeded), so the caller
// can tell its own shutdown from a failing instance. The retry budget and
// the request timeout are generous, so only the context can end these calls.
func TestContextEndsCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rate float64 // the client's budget; 0: plenty
		// setup arranges the failure and returns a context that ends.
		setup func(t *testing.T, sim *coupatest.Server, c *coupa.Client, obs *observer, w *wiretap) context.Context
		want  error
		// attempts bounds the list requests that may reach the instance.
		attempts int64
	}{
		{
			name: "cancelled while waiting for an answer",
			setup: func(t *testing.T, sim *coupatest.Server, _ *coupa.Client, _ *observer, w *wiretap) context.Context {
				sim.Faults().Latency(time.Minute, 0)
				ctx, cancel := context.WithCancel(t.Context())
				var once sync.Once
				w.edit = func(r *http.Request) {
					if strings.HasPrefix(r.URL.Path, "/api/") {
						once.Do(func() { time.AfterFunc(100*time.Millisecond, cancel) })
					}
				}
				return ctx
			},
			want: context.Canceled, attempts: 1,
		},
		{
			name: "cancelled during the backoff",
			setup: func(t *testing.T, sim *coupatest.Server, _ *coupa.Client, obs *observer, _ *wiretap) context.Context {
				sim.Faults().ServerErrors(1)
				ctx, cancel := context.WithCancel(t.Context())
				var n atomic.Int64
				obs.onReq = func(string, int) {
					if n.Add(1) == 2 {
						// The backoff after the second failure is at
						// least 150 ms.
						time.AfterFunc(20*time.Millisecond, cancel)
					}
				}
				return ctx
			},
			want: context.Canceled, attempts: 3,
		},
		{
			name: "cancelled right after an attempt",
			setup: func(t *testing.T, sim *coupatest.Server, _ *coupa.Client, obs *observer, _ *wiretap) context.Context {
				sim.Faults().ServerErrors(1)
				ctx, cancel := context.WithCancel(t.Context())
				obs.onReq = func(string, int) { cancel() }
				return ctx
			},
			want: context.Canceled, attempts: 1,
		},
		{
			name: "deadline before the rate budget allows a request",
			rate: 0.1, // one request, then one per 10 s
			setup: func(t *testing.T, sim *coupatest.Server, c *coupa.Client, _ *observer, _ *wiretap) context.Context {
				if _, err := c.List(t.Context(), table(t, "users"), coupa.Query{Limit: 1}); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			want: context.DeadlineExceeded, attempts: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			hc, w := tap(sim)
			obs := newObserver()
			c := newClient(t, sim, func(cfg *coupa.Config) {
				cfg.HTTPClient = hc
				cfg.Observer = obs
				cfg.RequestTimeout = 5 * time.Minute
				cfg.MaxRetryTime = 10 * time.Minute
				if tc.rate > 0 {
					cfg.RateLimit, cfg.Burst = tc.rate, 1
				}
			})
			ctx := tc.setup(t, sim, c, obs, w)
			done := make(chan error, 1)
			go func() {
				_, err := c.List(ctx, table(t, "invoices"), coupa.Query{})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Errorf("got %v, want %v", err, tc.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the call ignored its context")
			}
			if n := sim.Stats().Total("invoices", 0); n > tc.attempts {
				t.Errorf("%d list requests reached the instance, want at most %d", n, tc.attempts)
			}
		})
	}
}
