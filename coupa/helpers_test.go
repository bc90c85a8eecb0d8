package coupa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// epoch makes the simulator's data byte-identical across runs.
var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// smallRecords keeps every test fast: a few pages per table, no more.
func smallRecords() map[string]int {
	return map[string]int{
		"invoices": 120, "purchase_orders": 60, "requisitions": 30, "suppliers": 30,
		"contracts": 20, "expense_reports": 20, "users": 20, "approvals": 20,
	}
}

// newSim starts a small simulated instance; mod adjusts its Config.
func newSim(t testing.TB, mod func(*coupatest.Config)) *coupatest.Server {
	t.Helper()
	cfg := coupatest.DefaultConfig()
	cfg.Epoch = epoch
	cfg.Records = smallRecords()
	cfg.MaxLines = 2
	if mod != nil {
		mod(&cfg)
	}
	return coupatest.NewTLS(t, cfg)
}

// newClient builds a client for sim with test-sized timeouts; mod adjusts
// its Config (e.g. to wrap the transport).
func newClient(t testing.TB, sim *coupatest.Server, mod func(*coupa.Config)) *coupa.Client {
	t.Helper()
	cfg := coupa.Config{
		InstanceURL:    sim.URL(),
		ClientID:       coupatest.DefaultClientID,
		ClientSecret:   coupatest.DefaultClientSecret,
		HTTPClient:     sim.HTTPClient(),
		RateLimit:      500,
		Burst:          50,
		RequestTimeout: 5 * time.Second,
		MaxRetryTime:   10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := coupa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func table(t testing.TB, name string) coupa.Table {
	t.Helper()
	tb, err := coupa.LookupTable(name)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// listAll pages through t ordered by id and returns every record.
func listAll(ctx context.Context, c *coupa.Client, t coupa.Table) ([]coupa.Record, error) {
	var out []coupa.Record
	for {
		p, err := c.List(ctx, t, coupa.Query{OrderBy: "id", Offset: len(out)})
		if err != nil {
			return out, err
		}
		out = append(out, p.Records...)
		if len(p.Records) < coupa.MaxLimit {
			return out, nil
		}
	}
}

// wiretap wraps a transport and remembers what crossed it: every request's
// path and headers, and every access token the token endpoint handed out.
// Tests use it to see what the client sent, and to know which tokens must
// never be printed.
type wiretap struct {
	next http.RoundTripper
	// edit, when set, may change a request before it is sent.
	edit func(*http.Request)

	mu     sync.Mutex
	reqs   []seenRequest
	tokens []string
}

type seenRequest struct {
	Path   string
	Header http.Header
	Form   url.Values // token requests only
}

func (w *wiretap) RoundTrip(r *http.Request) (*http.Response, error) {
	if w.edit != nil {
		r = r.Clone(r.Context())
		w.edit(r)
	}
	seen := seenRequest{Path: r.URL.Path, Header: r.Header.Clone()}
	if r.Body != nil && r.URL.Path == "/oauth2/token" {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		seen.Form, _ = url.ParseQuery(string(b))
	}
	w.mu.Lock()
	w.reqs = append(w.reqs, seen)
	w.mu.Unlock()
	resp, err := w.next.RoundTrip(r)
	if err != nil || r.URL.Path != "/oauth2/token" {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &tok) == nil && tok.AccessToken != "" {
		w.mu.Lock()
		w.tokens = append(w.tokens, tok.AccessToken)
		w.mu.Unlock()
	}
	return resp, nil
}

func (w *wiretap) requests() []seenRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]seenRequest(nil), w.reqs...)
}

// tokenRequests returns the forms of the token requests so far.
func (w *wiretap) tokenRequests() []url.Values {
	var out []url.Values
	for _, r := range w.requests() {
		if r.Path == "/oauth2/token" {
			out = append(out, r.Form)
		}
	}
	return out
}

func (w *wiretap) issued() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.tokens...)
}

// tap routes sim's HTTP client through a new wiretap.
func tap(sim *coupatest.Server) (*http.Client, *wiretap) {
	hc := sim.HTTPClient()
	w := &wiretap{next: hc.Transport}
	hc.Transport = w
	return hc, w
}

// observer counts what the client reports to its Observer.
type observer struct {
	mu       sync.Mutex
	requests map[string]map[int]int64
	waits    int64
	onReq    func(table string, status int)
}

func newObserver() *observer { return &observer{requests: map[string]map[int]int64{}} }

func (o *observer) Request(table string, status int, _ time.Duration) {
	o.mu.Lock()
	m := o.requests[table]
	if m == nil {
		m = map[int]int64{}
		o.requests[table] = m
	}
	m[status]++
	f := o.onReq
	o.mu.Unlock()
	if f != nil {
		f(table, status)
	}
}

func (o *observer) RateLimitWait(string, time.Duration) {
	o.mu.Lock()
	o.waits++
	o.mu.Unlock()
}

func (o *observer) count(table string, status int) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[table][status]
}

func (o *observer) snapshot() map[string]map[int]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]map[int]int64{}
	for t, m := range o.requests {
		cp := map[int]int64{}
		for k, v := range m {
			cp[k] = v
		}
		out[t] = cp
	}
	return out
}

// mustContainAll fails unless s contains every one of subs.
func mustContainAll(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q does not mention %q", s, sub)
		}
	}
}
