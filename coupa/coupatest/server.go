package coupatest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
)

// Server is a simulated Coupa instance serving HTTPS on a loopback port.
// All its methods are safe for concurrent use, also while clients list.
type Server struct {
	cfg    Config
	ts     *httptest.Server
	render *renderer
	tables map[string]*table
	auth   *authority
	faults *Faults
	stats  counters

	// lineLists are the line list resources by path segment
	// ("purchase_order_lines"); their lines live in tables' records.
	lineLists map[string]*table

	clockMu sync.RWMutex
	skew    time.Duration
}

// New builds the instance's data and starts serving it over TLS on a
// loopback listener. Call Close when done. It needs no testing.T, so the
// demo command can embed it; trust it with HTTPClient, CertPool or
// CACertPEM (e.g. written to a file named by SSL_CERT_FILE).
func New(cfg Config) (*Server, error) {
	for name := range cfg.Records {
		if _, err := coupa.LookupTable(name); err != nil {
			return nil, fmt.Errorf("coupatest: Config.Records: %w", err)
		}
	}
	s := &Server{}
	s.cfg = cfg.withDefaults(time.Now())
	if err := s.build(); err != nil {
		return nil, err
	}
	s.ts = httptest.NewUnstartedServer(s)
	if s.cfg.Addr != "" {
		l, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("coupatest: %w", err)
		}
		s.ts.Listener.Close()
		s.ts.Listener = l
	}
	// httptest serves HTTP/1.1 unless told otherwise; that keeps a
	// truncated body a plain short read for the client.
	s.ts.StartTLS()
	return s, nil
}

// NewTLS is New for tests: it fails t on error and closes the server when
// the test ends.
func NewTLS(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) build() error {
	cfg := s.cfg
	s.render = &renderer{
		seed:      mix(uint64(cfg.Seed)),
		loc:       time.FixedZone("", int(cfg.UTCOffset/time.Second)),
		maxLines:  cfg.MaxLines,
		lines:     cfg.Lines,
		dropLines: cfg.Deletes,
	}
	s.faults = newFaults(cfg.RateLimit, cfg.Burst)
	s.auth = newAuthority(cfg)
	b := &builder{seed: s.render.seed, counts: cfg.Records, bases: map[string]int64{}, maxLines: cfg.MaxLines, objs: map[string]*objPlan{}}
	for i, t := range coupa.Tables {
		// Distinct id ranges per table catch a client mixing tables up.
		b.bases[t.Name] = int64(i+1)*1000 + 1
	}
	s.tables = map[string]*table{}
	s.lineLists = map[string]*table{}
	epoch := cfg.Epoch.Unix()
	for _, t := range coupa.Tables {
		if _, err := openapi.Load(t.OpenAPIFile); err != nil {
			return err
		}
		p, err := b.tablePlan(t)
		if err != nil {
			return err
		}
		tb := &table{meta: t, plan: p, base: b.bases[t.Name]}
		tie := 0
		if t.Name == cfg.TieTable && cfg.TieSize > 0 {
			tie = min(cfg.TieSize, cfg.Records[t.Name]/2)
		}
		seedTable(tb, cfg.Records[t.Name], cfg.Seed, epoch, int64(cfg.History/time.Second), tie)
		s.tables[t.Name] = tb
		if lt := newLineList(tb); lt != nil {
			s.lineLists[lineListName(lt)] = lt
		}
	}
	return nil
}

// URL is the instance URL ("https://127.0.0.1:port"); the API is below /api.
func (s *Server) URL() string { return s.ts.URL }

// HTTPClient returns a client that trusts the server's certificate (and
// nothing else) and never follows redirects.
func (s *Server) HTTPClient() *http.Client {
	c := s.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// CertPool returns a pool holding the server's self-signed certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ts.Certificate())
	return p
}

// CACertPEM returns the server's certificate in PEM, for SSL_CERT_FILE.
func (s *Server) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// Close stops the server and closes client connections.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Config returns the configuration in effect, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Now is the instance's clock: the host clock plus the skew set with
// SetSkew, at second precision as everything Coupa reports.
func (s *Server) Now() time.Time {
	s.clockMu.RLock()
	d := s.skew
	s.clockMu.RUnlock()
	return time.Now().Add(d).Truncate(time.Second)
}

// SetSkew sets the instance's clock to the host clock plus d. It moves the
// Date header, the updated_at of later writes and token expiry.
func (s *Server) SetSkew(d time.Duration) {
	s.clockMu.Lock()
	s.skew = d
	s.clockMu.Unlock()
}

// Faults returns the switches of injected failures (all off initially).
func (s *Server) Faults() *Faults { return s.faults }

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() { s.stats.reset() }

// statusWriter remembers the status for the counters.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP routes: POST /oauth2/token, GET /api/<table> (a list) and
// GET /api/<table>/<id> (one record, or 404 once it is deleted), where a
// line list resource (/api/purchase_order_lines) is served as a table.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The instance's own clock, second precision, in every answer.
	w.Header().Set("Date", s.Now().UTC().Format(http.TimeFormat))
	sw := &statusWriter{ResponseWriter: w}
	name := "other"
	defer func() { s.stats.request(name, sw.status) }()
	switch {
	case r.URL.Path == "/oauth2/token":
		name = "token"
		s.handleToken(sw, r)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		tname, idText, one := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/"), "/"), "/")
		tb, ok := s.tables[tname]
		if !ok {
			tb, ok = s.lineLists[tname]
		}
		id, err := strconv.ParseInt(idText, 10, 64)
		if !ok || one && err != nil {
			writeErrors(sw, http.StatusNotFound, "base", "No route matches "+r.URL.Path)
			return
		}
		name = tb.meta.Name
		serve := func(truncate bool) { s.list(sw, r, tb, truncate) }
		if one {
			serve = func(bool) { s.show(sw, tb, id) }
		}
		s.handleAPI(sw, r, tb, serve)
	default:
		writeErrors(sw, http.StatusNotFound, "base", "No route matches "+r.URL.Path)
	}
}

// handleAPI applies what stands in front of every list call on a real
// instance (latency, the rate limit, injected failures, the token check)
// before listing.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request, tb *table, serve func(truncate bool)) {
	f := s.faults
	if d := f.delay(); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if !f.allow() {
		if f.retryAfter() {
			w.Header().Set("Retry-After", "1")
		}
		writeErrors(w, http.StatusTooManyRequests, "base", "Rate limit exceeded")
		return
	}
	fault := f.next()
	switch fault {
	case FaultLoginPage:
		writeLoginPage(w)
		return
	case FaultServerErrorHTML, FaultServerErrorJSON:
		writeServerError(w, fault, f.intn(3))
		return
	}
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "base", "Method not allowed")
		return
	}
	if !s.authorize(w, r, tb.meta.Scope) {
		return
	}
	serve(fault == FaultTruncate)
}

// show answers GET /api/<table>/<id>: the record (or line) as a list
// renders it, or 404 for an id that does not exist or was deleted.
func (s *Server) show(w http.ResponseWriter, tb *table, id int64) {
	var body []byte
	var ok bool
	if tb.lineOf != nil {
		body, ok = s.line(tb, id)
	} else {
		var rec TruthRecord
		rec, ok = s.Record(tb.meta.Name, id)
		body = rec.JSON
	}
	if !ok {
		writeErrors(w, http.StatusNotFound, "base", fmt.Sprintf("Couldn't find %s with 'id'=%d", tb.meta.AvroName, id))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
