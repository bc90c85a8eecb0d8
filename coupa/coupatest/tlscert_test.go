package coupatest_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// A simulated instance on another loopback address (a host of its own, as
// several instances need) serves a certificate for that address, which a
// client trusting only CACertPEM (as SSL_CERT_FILE makes the binary do), or
// using HTTPClient, accepts.
func TestServesOnAnotherLoopbackAddress(t *testing.T) {
	s, err := coupatest.New(coupatest.Config{Addr: "127.0.0.2:0", Records: map[string]int{"users": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.2" {
		t.Fatalf("URL %s, want host 127.0.0.2", s.URL())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatalf("CACertPEM holds no certificate:\n%s", s.CACertPEM())
	}
	fromPEM := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	fromPool := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}}
	for name, c := range map[string]*http.Client{"CACertPEM": fromPEM, "CertPool": fromPool, "HTTPClient": s.HTTPClient()} {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {coupatest.DefaultClientID},
			"client_secret": {coupatest.DefaultClientSecret}, "scope": {"core.user.read"}}
		resp, err := c.Post(s.URL()+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: token status %d", name, resp.StatusCode)
		}
		if got := resp.TLS.PeerCertificates[0].IPAddresses; len(got) != 1 || got[0].String() != "127.0.0.2" {
			t.Errorf("%s: the certificate is for %v, want 127.0.0.2", name, got)
		}
	}
	// httptest's certificate (127.0.0.1 among others) does not cover it:
	// that is why the simulator makes its own.
	other, err := coupatest.New(coupatest.Config{Addr: "127.0.0.1:0", Records: map[string]int{"users": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.HTTPClient().Get(s.URL() + "/api/users"); err == nil {
		t.Error("a client trusting only the 127.0.0.1 simulator's certificate reached the 127.0.0.2 one")
	}
}
