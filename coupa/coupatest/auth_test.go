package coupatest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

func TestTokenEndpoint(t *testing.T) {
	clients := []coupatest.Client{
		{ID: "all", Secret: "s3cret", Scopes: coupatest.AllScopes()},
		{ID: "inv", Secret: "p&ss=w:rd", Scopes: []string{"core.invoice.read"}},
	}
	cases := []struct {
		name       string
		noScopes   bool
		form       url.Values
		basic      [2]string
		wantStatus int
		wantError  string
	}{
		{"basic auth", false, url.Values{"grant_type": {"client_credentials"}, "scope": {"core.invoice.read core.user.read"}}, [2]string{"all", "s3cret"}, 200, ""},
		{"form credentials", false, url.Values{"grant_type": {"client_credentials"}, "client_id": {"all"}, "client_secret": {"s3cret"}, "scope": {"core.invoice.read"}}, [2]string{}, 200, ""},
		{"basic auth, secret needing encoding", false, url.Values{"grant_type": {"client_credentials"}, "scope": {"core.invoice.read"}}, [2]string{"inv", url.QueryEscape("p&ss=w:rd")}, 200, ""},
		{"no scope", false, url.Values{"grant_type": {"client_credentials"}, "client_id": {"inv"}, "client_secret": {"p&ss=w:rd"}}, [2]string{}, 200, ""},
		{"scope not granted", false, url.Values{"grant_type": {"client_credentials"}, "scope": {"core.invoice.read core.user.read"}}, [2]string{"inv", "p&ss=w:rd"}, 400, "invalid_scope"},
		{"unknown scope", false, url.Values{"grant_type": {"client_credentials"}, "scope": {"core.everything"}}, [2]string{"all", "s3cret"}, 400, "invalid_scope"},
		{"wrong secret", false, url.Values{"grant_type": {"client_credentials"}}, [2]string{"all", "nope"}, 400, "invalid_client"},
		{"unknown client", false, url.Values{"grant_type": {"client_credentials"}, "client_id": {"who"}, "client_secret": {"s3cret"}}, [2]string{}, 400, "invalid_client"},
		{"no credentials", false, url.Values{"grant_type": {"client_credentials"}}, [2]string{}, 400, "invalid_client"},
		{"wrong grant", false, url.Values{"grant_type": {"password"}}, [2]string{"all", "s3cret"}, 400, "unsupported_grant_type"},
		{"no object scopes: any scope refused", true, url.Values{"grant_type": {"client_credentials"}, "scope": {"core.invoice.read"}}, [2]string{"all", "s3cret"}, 400, "invalid_scope"},
		{"no object scopes: no scope works", true, url.Values{"grant_type": {"client_credentials"}}, [2]string{"all", "s3cret"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(c *coupatest.Config) {
				c.Clients, c.NoObjectScopes = clients, tc.noScopes
				c.Records = map[string]int{"invoices": 3}
			})
			r := tokenReq(t, s, tc.form, tc.basic[0], tc.basic[1])
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			if tc.wantError != "" {
				if body["error"] != tc.wantError {
					t.Fatalf("error %v, want %s", body["error"], tc.wantError)
				}
				return
			}
			if body["token_type"] != "bearer" || body["expires_in"] != float64(86399) || body["access_token"] == "" {
				t.Fatalf("token response %v", body)
			}
			// The token reads invoices: every case's client holds that scope.
			if got := get(t, s, body["access_token"].(string), "/api/invoices", nil); got.status != 200 {
				t.Fatalf("list with new token: %d %s", got.status, got.body)
			}
		})
	}
}

func TestTokenScopesGuardTables(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 2, "users": 2} })
	tok := token(t, s, "core.invoice.read")
	if r := get(t, s, tok, "/api/invoices", nil); r.status != 200 {
		t.Fatalf("invoices: %d", r.status)
	}
	r := get(t, s, tok, "/api/users", nil)
	if r.status != 403 {
		t.Fatalf("users with invoice token: %d, want 403", r.status)
	}
	if !strings.Contains(string(r.body), "core.user.read") || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("403 does not name the scope: %s %v", r.body, r.header)
	}
	// A token minted without scope carries everything granted.
	all := token(t, s, "")
	if r := get(t, s, all, "/api/users", nil); r.status != 200 {
		t.Fatalf("users with unscoped token: %d", r.status)
	}
}

func TestTokenExpiry(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.TokenTTL = time.Hour
		c.Records = map[string]int{"invoices": 2}
	})
	tok := token(t, s, "")
	if r := get(t, s, tok, "/api/invoices", nil); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	s.SetSkew(61 * time.Minute) // the instance's clock passes the expiry
	r := get(t, s, tok, "/api/invoices", nil)
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "expired") {
		t.Fatalf("expired token: %d %v", r.status, r.header)
	}
	r.errorsBody(t)
	s.SetSkew(0)
	tok = token(t, s, "")
	s.ExpireTokens()
	if r := get(t, s, tok, "/api/invoices", nil); r.status != 401 {
		t.Fatalf("after ExpireTokens: %d", r.status)
	}
	for _, bad := range []string{"", "Bearer nonsense", "Basic abc"} {
		req, _ := http.NewRequest("GET", s.URL()+"/api/invoices", nil)
		req.Header.Set("Accept", "application/json")
		if bad != "" {
			req.Header.Set("Authorization", bad)
		}
		if r := do(t, s, req); r.status != 401 {
			t.Errorf("Authorization %q: %d, want 401", bad, r.status)
		}
	}
}

func TestNoObjectScopesAtRuntime(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 1} })
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"core.invoice.read"}}
	if r := tokenReq(t, s, form, coupatest.DefaultClientID, coupatest.DefaultClientSecret); r.status != 200 {
		t.Fatalf("scoped token: %d", r.status)
	}
	s.SetNoObjectScopes(true)
	if r := tokenReq(t, s, form, coupatest.DefaultClientID, coupatest.DefaultClientSecret); r.status != 400 || !strings.Contains(string(r.body), "invalid_scope") {
		t.Fatalf("scoped token on instance without object scopes: %d %s", r.status, r.body)
	}
}

// Churn's token expiry spares a token minted a moment ago: a real token
// lives for hours, so a client never sees its fresh token refused.
func TestExpireTokensOlderThanSparesFreshTokens(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 2} })
	old := token(t, s, "")
	time.Sleep(50 * time.Millisecond)
	fresh := token(t, s, "")
	s.ExpireTokensOlderThan(30 * time.Millisecond)
	if r := get(t, s, old, "/api/invoices", nil); r.status != 401 {
		t.Errorf("the old token: %d, want 401", r.status)
	}
	if r := get(t, s, fresh, "/api/invoices", nil); r.status != 200 {
		t.Errorf("the fresh token: %d, want 200", r.status)
	}
}
