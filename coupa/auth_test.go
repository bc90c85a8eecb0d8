package coupa_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestTokenScopes: each table's token asks for that table's scope; an
// instance or client that refuses a scope (invalid_scope) gets one unscoped
// token request, which the client remembers: the scoped request is never
// repeated, whichever table asks next.
func TestTokenScopes(t *testing.T) {
	t.Parallel()
	some := []string{"core.invoice.read", "core.supplier.read"}
	for _, tc := range []struct {
		name   string
		mod    func(*coupatest.Config)
		tables []string
		// what the token endpoint is asked, in order ("" = no scope)
		wantScopes []string
		wantStatus map[int]int64 // token endpoint answers by status
		unscoped   bool
		forbidden  []string // tables whose listing is a ScopeError
	}{
		{
			name:       "per-object scopes",
			tables:     []string{"invoices", "suppliers", "users", "invoices", "suppliers", "users"},
			wantScopes: []string{"core.invoice.read", "core.supplier.read", "core.user.read"},
			wantStatus: map[int]int64{200: 3},
		},
		{
			name:       "instance without object scopes",
			mod:        func(c *coupatest.Config) { c.NoObjectScopes = true },
			tables:     []string{"invoices", "suppliers", "users", "invoices", "approvals"},
			wantScopes: []string{"core.invoice.read", ""},
			wantStatus: map[int]int64{400: 1, 200: 1},
			unscoped:   true,
		},
		{
			name: "client granted some scopes",
			mod: func(c *coupatest.Config) {
				c.Clients = []coupatest.Client{{ID: coupatest.DefaultClientID, Secret: coupatest.DefaultClientSecret, Scopes: some}}
			},
			tables:     []string{"invoices", "suppliers", "users", "invoices", "suppliers", "purchase_orders"},
			wantScopes: []string{"core.invoice.read", "core.supplier.read", "core.user.read", ""},
			wantStatus: map[int]int64{200: 3, 400: 1},
			unscoped:   true,
			forbidden:  []string{"users", "purchase_orders"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, tc.mod)
			hc, w := tap(sim)
			c := newClient(t, sim, func(cfg *coupa.Config) { cfg.HTTPClient = hc })
			for _, name := range tc.tables {
				p, err := c.List(t.Context(), table(t, name), coupa.Query{Limit: 2})
				if slices.Contains(tc.forbidden, name) {
					var se *coupa.ScopeError
					if !errors.As(err, &se) {
						t.Fatalf("%s: got %v, want a ScopeError", name, err)
					}
					continue
				}
				if err != nil || len(p.Records) != 2 {
					t.Fatalf("%s: %d records, %v", name, len(p.Records), err)
				}
			}
			var scopes []string
			for _, f := range w.tokenRequests() {
				if f.Get("grant_type") != "client_credentials" {
					t.Errorf("token request with grant_type %q", f.Get("grant_type"))
				}
				scopes = append(scopes, f.Get("scope"))
			}
			if !slices.Equal(scopes, tc.wantScopes) {
				t.Errorf("token requests asked for scopes %q, want %q", scopes, tc.wantScopes)
			}
			st := sim.Stats()
			for status, n := range tc.wantStatus {
				if got := st.Total("token", status); got != n {
					t.Errorf("token endpoint answered %d %d times, want %d", status, got, n)
				}
			}
			if got := c.UsesUnscopedToken(); got != tc.unscoped {
				t.Errorf("UsesUnscopedToken() = %v, want %v", got, tc.unscoped)
			}
		})
	}
}

// TestTokensCached: a token is minted once per scope and reused by every
// request, including concurrent ones (mints are serialised, so eight tables
// starting together do not each mint twice).
func TestTokensCached(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	c := newClient(t, sim, nil)
	var wg sync.WaitGroup
	errs := make(chan error, len(coupa.DefaultTables)*2)
	for _, tb := range coupa.DefaultTables {
		for range 2 {
			wg.Go(func() {
				if _, err := listAll(t.Context(), c, tb); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := sim.Stats()
	var lists int64
	for _, tb := range coupa.DefaultTables {
		lists += st.Total(tb.Name, 200)
	}
	if st.Tokens != int64(len(coupa.DefaultTables)) || lists < 2*int64(len(coupa.DefaultTables)) {
		t.Errorf("%d tokens for %d list calls; want one per table (%d)", st.Tokens, lists, len(coupa.DefaultTables))
	}
}

// TestTokenRenewedBeforeExpiry: with a short lifetime the client mints a new
// token before the old one expires, so no request is ever refused with 401.
// (Renewal happens when half of a short token's life is left: a 4 s token is
// renewed after 2 s, well before the instance expires it.)
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	sim := newSim(t, func(c *coupatest.Config) { c.TokenTTL = 4 * time.Second })
	c := newClient(t, sim, func(cfg *coupa.Config) { cfg.RateLimit = 20 })
	inv := table(t, "invoices")
	deadline := time.Now().Add(20 * time.Second)
	calls := 0
	for sim.Stats().Tokens < 2 && time.Now().Before(deadline) {
		if _, err := c.List(t.Context(), inv, coupa.Query{Limit: 1}); err != nil {
			t.Fatal(err)
		}
		calls++
	}
	st := sim.Stats()
	if st.Tokens < 2 {
		t.Fatalf("%d tokens minted over %d calls in 20 s of a 4 s token's life; want renewals", st.Tokens, calls)
	}
	if n := st.Total("invoices", http.StatusUnauthorized); n != 0 {
		t.Errorf("%d requests were refused with an expired token; renewal came too late", n)
	}
}

// TestTokenRenewedOn401: a token that expires mid-listing (the instance's
// clock decides, not ours) costs one refused request and one new token per
// expiry; the listing continues and loses nothing.
func TestTokenRenewedOn401(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		expireAt []int // expire every token before these pages
		want401  int64
	}{
		{"never", nil, 0},
		{"once mid-listing", []int{1}, 1},
		{"before every page", []int{0, 1, 2}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, nil)
			c := newClient(t, sim, nil)
			inv := table(t, "invoices")
			// Mint the first token before the listing starts.
			if _, err := c.List(t.Context(), inv, coupa.Query{Limit: 1}); err != nil {
				t.Fatal(err)
			}
			var got []coupa.Record
			for page := 0; ; page++ {
				if slices.Contains(tc.expireAt, page) {
					sim.ExpireTokens()
				}
				p, err := c.List(t.Context(), inv, coupa.Query{OrderBy: "id", Offset: len(got)})
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				got = append(got, p.Records...)
				if len(p.Records) < coupa.MaxLimit {
					break
				}
			}
			if len(got) != sim.Count("invoices") {
				t.Errorf("listed %d records, want %d", len(got), sim.Count("invoices"))
			}
			st := sim.Stats()
			if n := st.Total("invoices", http.StatusUnauthorized); n != tc.want401 {
				t.Errorf("%d requests answered 401, want %d", n, tc.want401)
			}
			if st.Tokens != 1+tc.want401 {
				t.Errorf("%d tokens minted, want %d (one more per expiry)", st.Tokens, 1+tc.want401)
			}
			if n := c.Stats().Requests["invoices"][http.StatusUnauthorized]; n != tc.want401 {
				t.Errorf("client counted %d 401s, want %d", n, tc.want401)
			}
		})
	}

	t.Run("concurrent tables", func(t *testing.T) {
		sim := newSim(t, nil)
		c := newClient(t, sim, nil)
		listEach := func() {
			var wg sync.WaitGroup
			for _, tb := range coupa.DefaultTables {
				wg.Go(func() {
					if _, err := c.List(t.Context(), tb, coupa.Query{Limit: 5}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		listEach()
		sim.ExpireTokens()
		listEach()
		st := sim.Stats()
		for _, tb := range coupa.DefaultTables {
			if n := st.Total(tb.Name, http.StatusUnauthorized); n != 1 {
				t.Errorf("%s: %d 401s, want 1", tb.Name, n)
			}
		}
		if want := 2 * int64(len(coupa.DefaultTables)); st.Tokens != want {
			t.Errorf("%d tokens minted, want %d", st.Tokens, want)
		}
	})
}

// fakeToken is an instance whose token endpoint answers from a script and
// whose list endpoint answers []; it counts token requests.
type fakeToken struct {
	srv    *httptest.Server
	tokens atomic.Int64
	lists  atomic.Int64
}

func newFakeToken(t *testing.T, answer func(n int64, w http.ResponseWriter)) *fakeToken {
	f := &fakeToken{}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			answer(f.tokens.Add(1), w)
			return
		}
		f.lists.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func oauthAnswer(status int, ctype, body string) func(int64, http.ResponseWriter) {
	return func(_ int64, w http.ResponseWriter) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

// TestCredentialsRefused: invalid_client and any other 400 (or 401) from the
// token endpoint mean the credentials will not work however often we ask: a
// permanent ErrCredentials after exactly one token request, and no list
// request. A 5xx from the token endpoint, by contrast, is retried.
func TestCredentialsRefused(t *testing.T) {
	t.Parallel()
	const goodToken = `{"access_token":"fake-access-token-1","token_type":"bearer","expires_in":3600}`
	for _, tc := range []struct {
		name   string
		sim    bool   // against the simulator, with secret as the client secret
		id     string // client id (simulator cases)
		answer func(int64, http.ResponseWriter)
		want   []string
	}{
		{name: "wrong secret", sim: true, id: coupatest.DefaultClientID, want: []string{"invalid_client"}},
		{name: "unknown client", sim: true, id: "nobody", want: []string{"invalid_client"}},
		{name: "invalid_request", answer: oauthAnswer(400, "application/json", `{"error":"invalid_request"}`), want: []string{"invalid_request"}},
		{name: "unauthorized_client", answer: oauthAnswer(400, "application/json", `{"error":"unauthorized_client"}`), want: []string{"unauthorized_client"}},
		{name: "400 without a body", answer: oauthAnswer(400, "text/plain", ``), want: []string{"400"}},
		{name: "401 invalid_client", answer: oauthAnswer(401, "application/json", `{"error":"invalid_client"}`), want: []string{"invalid_client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c *coupa.Client
			var tokenRequests, listRequests func() int64
			if tc.sim {
				sim := newSim(t, nil)
				c = newClient(t, sim, func(cfg *coupa.Config) { cfg.ClientID, cfg.ClientSecret = tc.id, "not-the-secret" })
				tokenRequests = func() int64 { return sim.Stats().Total("token", 0) }
				listRequests = func() int64 { return sim.Stats().Total("invoices", 0) }
			} else {
				f := newFakeToken(t, tc.answer)
				var err error
				c, err = coupa.New(coupa.Config{InstanceURL: f.srv.URL, ClientID: "id", ClientSecret: "not-the-secret",
					HTTPClient: f.srv.Client(), RequestTimeout: 2 * time.Second, MaxRetryTime: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				tokenRequests, listRequests = f.tokens.Load, f.lists.Load
			}
			_, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{})
			if !errors.Is(err, coupa.ErrCredentials) {
				t.Fatalf("got %v, want ErrCredentials", err)
			}
			if coupa.IsTemporary(err) {
				t.Errorf("refused credentials reported as temporary: %v", err)
			}
			mustContainAll(t, err.Error(), append(tc.want, "credentials")...)
			if n := tokenRequests(); n != 1 {
				t.Errorf("%d token requests, want 1 (no retry)", n)
			}
			if n := listRequests(); n != 0 {
				t.Errorf("%d list requests without a token", n)
			}
		})
	}

	t.Run("5xx is retried", func(t *testing.T) {
		f := newFakeToken(t, func(n int64, w http.ResponseWriter) {
			if n <= 2 {
				oauthAnswer(503, "text/html", "<html>503 Service Unavailable</html>")(n, w)
				return
			}
			oauthAnswer(200, "application/json", goodToken)(n, w)
		})
		c, err := coupa.New(coupa.Config{InstanceURL: f.srv.URL, ClientID: "id", ClientSecret: "secret",
			HTTPClient: f.srv.Client(), RequestTimeout: 2 * time.Second, MaxRetryTime: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{}); err != nil {
			t.Fatal(err)
		}
		if n := f.tokens.Load(); n != 3 {
			t.Errorf("%d token requests, want 3", n)
		}
	})
}

// TestScopeError: a token without the table's scope gets 403, which no retry
// can fix; the error names the scope the admin must grant.
func TestScopeError(t *testing.T) {
	t.Parallel()
	sim := newSim(t, func(c *coupatest.Config) {
		c.Clients = []coupatest.Client{{ID: coupatest.DefaultClientID, Secret: coupatest.DefaultClientSecret, Scopes: []string{"core.invoice.read"}}}
	})
	c := newClient(t, sim, nil)
	for _, name := range []string{"suppliers", "users"} {
		t.Run(name, func(t *testing.T) {
			tb := table(t, name)
			sim.ResetStats()
			_, err := c.List(t.Context(), tb, coupa.Query{})
			var se *coupa.ScopeError
			if !errors.As(err, &se) || se.Table != name || se.Scope != tb.Scope {
				t.Fatalf("got %#v (%v), want a ScopeError for %s naming %s", se, err, name, tb.Scope)
			}
			if coupa.IsTemporary(err) {
				t.Error("a 403 reported as temporary")
			}
			mustContainAll(t, err.Error(), tb.Scope, "403")
			if n := sim.Stats().Total(name, 0); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
	if p, err := c.List(t.Context(), table(t, "invoices"), coupa.Query{Limit: 3}); err != nil || len(p.Records) != 3 {
		t.Errorf("invoices, which the client may read: %d records, %v", len(p.Records), err)
	}
	if !strings.Contains((&coupa.ScopeError{Table: "x", Scope: "core.x.read"}).Error(), "core.x.read") {
		t.Error("ScopeError does not name the scope")
	}
}
