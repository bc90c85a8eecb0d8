package coupa

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// defaultBundles are where Debian, Red Hat and Alpine keep the system CAs.
var defaultBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/cert.pem",
}

// DefaultHTTPClient trusts the system's CAs plus, when SSL_CERT_FILE is set,
// the CAs in that file. (Go alone would use SSL_CERT_FILE instead of the
// system bundle; coupa-kafka's contract is that it adds to it, so a private CA
// for a proxy or a simulator does not hide the public ones.) There is
// deliberately no way to skip verification.
func DefaultHTTPClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	if sys, err := x509.SystemCertPool(); err == nil && sys != nil {
		pool = sys
	}
	if extra := os.Getenv("SSL_CERT_FILE"); extra != "" {
		for _, f := range defaultBundles {
			if pem, err := os.ReadFile(f); err == nil {
				pool.AppendCertsFromPEM(pem)
			}
		}
		pem, err := os.ReadFile(extra)
		if err != nil {
			return nil, fmt.Errorf("SSL_CERT_FILE: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("SSL_CERT_FILE %s holds no PEM certificate", extra)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: tr}, nil
}
