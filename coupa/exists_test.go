package coupa_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// Exists: true for a live record, false once Coupa deletes it (404 with its
// error body), and a token that expired meanwhile is minted again.
func TestExists(t *testing.T) {
	t.Parallel()
	sim := newSim(t, nil)
	c := newClient(t, sim, nil)
	tb := table(t, "suppliers")
	id := sim.States("suppliers")[0].ID
	if ok, err := c.Exists(t.Context(), tb, id); err != nil || !ok {
		t.Fatalf("live record: %v, %v", ok, err)
	}
	if err := sim.Delete("suppliers", id); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	if ok, err := c.Exists(t.Context(), tb, id); err != nil || ok {
		t.Fatalf("deleted record: %v, %v; want false, nil", ok, err)
	}
	if ok, err := c.Exists(t.Context(), tb, 1<<40); err != nil || ok {
		t.Fatalf("an id that never existed: %v, %v; want false, nil", ok, err)
	}
}

// What is not Coupa saying "no such record" is never "deleted": a refused
// scope, error pages (retried), a 404 that is not Coupa's.
func TestExistsNeverGuessesADelete(t *testing.T) {
	t.Parallel()
	t.Run("scope refused", func(t *testing.T) {
		sim := newSim(t, func(c *coupatest.Config) {
			c.Clients = []coupatest.Client{{ID: coupatest.DefaultClientID, Secret: coupatest.DefaultClientSecret, Scopes: []string{"core.invoice.read"}}}
		})
		c := newClient(t, sim, nil)
		_, err := c.Exists(t.Context(), table(t, "suppliers"), sim.States("suppliers")[0].ID)
		var se *coupa.ScopeError
		if !errors.As(err, &se) {
			t.Fatalf("got %v, want a ScopeError", err)
		}
	})
	t.Run("server errors are retried", func(t *testing.T) {
		sim := newSim(t, nil)
		c := newClient(t, sim, nil)
		sim.Faults().Inject(coupatest.FaultServerErrorHTML, 2)
		ok, err := c.Exists(t.Context(), table(t, "suppliers"), sim.States("suppliers")[0].ID)
		if !ok || err != nil {
			t.Fatalf("after two 5xx pages: %v, %v; want true", ok, err)
		}
	})
	t.Run("a login page", func(t *testing.T) {
		sim := newSim(t, nil)
		c := newClient(t, sim, nil)
		sim.Faults().Inject(coupatest.FaultLoginPage, 1)
		id := sim.States("suppliers")[0].ID
		ok, err := c.Exists(t.Context(), table(t, "suppliers"), id)
		if err == nil || ok {
			t.Fatalf("a login page: %v, %v; want an error", ok, err)
		}
		mustContainAll(t, err.Error(), "reading suppliers record", "is not record")
	})
	t.Run("a 404 that is not Coupa's", func(t *testing.T) {
		proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth2/token" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"t","token_type":"bearer","expires_in":3600}`))
				return
			}
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("<html>Not Found</html>"))
		}))
		defer proxy.Close()
		c, err := coupa.New(coupa.Config{InstanceURL: proxy.URL, ClientID: "id", ClientSecret: "secret",
			HTTPClient: proxy.Client(), RateLimit: 100, MaxRetryTime: 0})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := c.Exists(t.Context(), table(t, "suppliers"), 5)
		if err == nil || ok {
			t.Fatalf("an HTML 404: %v, %v; want an error", ok, err)
		}
		mustContainAll(t, err.Error(), "not taken as deleted")
	})
}
