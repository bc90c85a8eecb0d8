package trust_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/internal/trust"
)

// SSL_CERT_FILE adds a CA to the system's; it does not replace them (Go's
// own rule), so a private CA for one endpoint keeps public ones working.
func TestSSLCertFileAddsToTheSystemCAs(t *testing.T) {
	system, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skip("no system CA bundle on this machine:", err)
	}
	block, _ := pem.Decode(system)
	public, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	private := srv.Certificate()
	path := filepath.Join(t.TempDir(), "private.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: private.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", path)
	pool, err := trust.Roots()
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 Subjects is fine for a pool built from PEM files.
	subjects := pool.Subjects()
	has := func(c *x509.Certificate) bool {
		for _, s := range subjects {
			if bytes.Equal(s, c.RawSubject) {
				return true
			}
		}
		return false
	}
	if !has(private) || !has(public) {
		t.Errorf("trusted: private CA %v, a system CA (%s) %v; want both", has(private), public.Subject, has(public))
	}
}

func TestSSLCertFileUnreadableIsAnError(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	if _, err := trust.Roots(); err == nil {
		t.Error("a missing SSL_CERT_FILE was ignored")
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("not a certificate"), 0o600)
	t.Setenv("SSL_CERT_FILE", empty)
	if _, err := trust.Roots(); err == nil {
		t.Error("an SSL_CERT_FILE without certificates was accepted")
	}
}
