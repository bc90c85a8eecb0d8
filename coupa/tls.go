package coupa

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/coupa-kafka/coupa-kafka/internal/trust"
)

// DefaultHTTPClient trusts the system's CAs plus, when SSL_CERT_FILE is set,
// the CAs in that file (see internal/trust: one rule for every TLS client
// of coupa-kafka).
func DefaultHTTPClient() (*http.Client, error) {
	pool, err := trust.Roots()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: tr}, nil
}
