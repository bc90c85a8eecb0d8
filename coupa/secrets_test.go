package coupa_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// leaked reports the first piece of secret (any 12 consecutive bytes) found
// in text: a snippet cut in the middle of a secret must not print its first
// half either.
func leaked(text, secret string) (string, bool) {
	const w = 12
	if len(secret) < w {
		return secret, strings.Contains(text, secret)
	}
	for i := 0; i+w <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+w]) {
			return secret[i : i+w], true
		}
	}
	return "", false
}

// TestSecretsNeverPrinted runs a deliberately failing session at Debug level
// and checks that neither a client secret nor any access token the instance
// issued appears in an error or a log line. Part of it is an instance whose
// error pages echo the request back (some proxies do), with each secret
// placed across the point where the client cuts its body snippet.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	var errs []string
	fail := func(_ coupa.Page, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("a failing step succeeded")
		}
		errs = append(errs, err.Error())
	}
	ok := func(_ coupa.Page, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	secrets := []string{coupatest.DefaultClientSecret}

	// The simulator: every kind of failure it can produce.
	sim := newSim(t, func(c *coupatest.Config) {
		c.Clients = []coupatest.Client{{ID: coupatest.DefaultClientID, Secret: coupatest.DefaultClientSecret,
			Scopes: []string{"core.invoice.read", "core.supplier.read"}}}
	})
	hc, w := tap(sim)
	const badSecret = "wrong-secret-4711-do-not-print"
	secrets = append(secrets, badSecret)
	bad := newClient(t, sim, func(cfg *coupa.Config) {
		cfg.HTTPClient, cfg.ClientSecret, cfg.Logger = hc, badSecret, debugLogger(&logs)
	})
	_, err := bad.List(t.Context(), table(t, "invoices"), coupa.Query{})
	if !errors.Is(err, coupa.ErrCredentials) {
		t.Fatalf("bad secret: %v", err)
	}
	errs = append(errs, err.Error())

	c := newClient(t, sim, func(cfg *coupa.Config) {
		cfg.HTTPClient, cfg.Logger = hc, debugLogger(&logs)
	})
	// impatient gives up on failures that do not go away.
	impatient := newClient(t, sim, func(cfg *coupa.Config) {
		cfg.HTTPClient, cfg.Logger = hc, debugLogger(&logs)
		cfg.MaxRetryTime = time.Second
	})
	inv := table(t, "invoices")
	sim.Faults().Inject(coupatest.FaultServerErrorHTML, 2)
	ok(c.List(t.Context(), inv, coupa.Query{}))
	sim.Faults().Inject(coupatest.FaultTruncate, 2)
	ok(c.List(t.Context(), inv, coupa.Query{}))
	sim.Faults().Inject(coupatest.FaultLoginPage, 1)
	fail(c.List(t.Context(), inv, coupa.Query{}))
	sim.ExpireTokens()
	ok(c.List(t.Context(), inv, coupa.Query{}))
	fail(c.List(t.Context(), table(t, "users"), coupa.Query{})) // invalid_scope, then 403
	sim.Faults().ServerErrors(1)
	fail(impatient.List(t.Context(), inv, coupa.Query{}))
	sim.Faults().Reset()
	sim.Faults().Truncate(1)
	fail(impatient.List(t.Context(), inv, coupa.Query{}))
	sim.Faults().Reset()
	issued := w.issued()
	if len(issued) < 3 {
		t.Fatalf("the simulator issued %d tokens; the session did not run as planned", len(issued))
	}
	secrets = append(secrets, issued...)

	// An instance that echoes requests into its error pages.
	const echoSecret = "echo-secret-0123456789abcdef"
	const echoToken = "echo-token-fedcba9876543210fedcba9876543210"
	secrets = append(secrets, echoSecret, echoToken)
	pad := strings.Repeat("x", 100) // the client keeps the first 120 bytes
	var tokenCalls atomic.Int64
	echo := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			r.ParseForm()
			if tokenCalls.Add(1) == 1 {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(pad + r.PostForm.Get("client_secret") + " was posted; body " + r.PostForm.Encode()))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"` + echoToken + `","token_type":"bearer","expires_in":3600}`))
			return
		}
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "text/html")
		status := http.StatusBadGateway
		if r.URL.Path == "/api/users" {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		w.Write([]byte(pad + auth + " <- your token; Authorization: " + r.Header.Get("Authorization")))
	}))
	defer echo.Close()
	ec, err := coupa.New(coupa.Config{InstanceURL: echo.URL, ClientID: "echo-client", ClientSecret: echoSecret,
		HTTPClient: echo.Client(), RequestTimeout: time.Second, MaxRetryTime: time.Second, Logger: debugLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	fail(ec.List(t.Context(), inv, coupa.Query{}))               // 502s until MaxRetryTime
	fail(ec.List(t.Context(), table(t, "users"), coupa.Query{})) // 400, permanent
	if n := tokenCalls.Load(); n != 3 {
		t.Fatalf("%d token requests to the echoing instance, want 3 (a 500, then one token per table)", n)
	}

	all := strings.Join(errs, "\n")
	log := logs.String()
	if !strings.Contains(log, "retrying") || !strings.Contains(all, "REDACTED") {
		t.Fatalf("the session logged no retry or redacted nothing; it did not run as planned:\n%s\n%s", all, log)
	}
	for _, s := range secrets {
		if piece, bad := leaked(all, s); bad {
			t.Errorf("an error shows %q of secret %q:\n%s", piece, s, all)
		}
		if piece, bad := leaked(log, s); bad {
			t.Errorf("the log shows %q of secret %q", piece, s)
		}
	}
}
