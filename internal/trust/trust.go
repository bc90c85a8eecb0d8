// Package trust is coupa-kafka's one rule for which certificate authorities
// a TLS client trusts: the system's, plus those in SSL_CERT_FILE when it is
// set. Go alone would use SSL_CERT_FILE instead of the system bundle, so a
// private CA added for one endpoint (a proxy, a simulator) would hide the
// public CAs every other endpoint needs; the Coupa client, the schema
// registry client and Kafka TLS without KAFKA_TLS_CA_FILE all use Roots.
// There is deliberately no way to skip verification.
package trust

import (
	"crypto/x509"
	"fmt"
	"os"
)

// systemBundles are where Debian, Red Hat and Alpine keep the system CAs.
// With SSL_CERT_FILE set, Go's system pool is that file alone, so the
// bundles are added back by hand.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/cert.pem",
}

// Roots returns the system's CAs plus those in SSL_CERT_FILE. A
// SSL_CERT_FILE that cannot be read or holds no certificate is an error
// naming the variable, never a silent fallback.
func Roots() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if sys, err := x509.SystemCertPool(); err == nil && sys != nil {
		pool = sys
	}
	extra := os.Getenv("SSL_CERT_FILE")
	if extra == "" {
		return pool, nil
	}
	for _, f := range systemBundles {
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
	return pool, nil
}
