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

	// routes are the list resources by path ("/api/asn/headers"): every
	// table's Path and the line lists' (whose lines live in tables' records).
	routes map[string]*table

	clockMu sync.RWMutex
	skew    time.Duration

	// builder made the plans; AddCustomField builds fields with it, under
	// customMu (its caches are not safe for concurrent use).
	customMu sync.Mutex
	builder  *builder
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
		tlsCfg, err := certFor(l.Addr().String())
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("coupatest: %w", err)
		}
		s.ts.TLS = tlsCfg
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

// build makes every table of coupa.Catalog from its R39 definition and
// routes its Path (and its line list's) to it.
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
	b := &builder{seed: s.render.seed, counts: cfg.Records, bases: idBases(cfg.Records), maxLines: cfg.MaxLines, objs: map[string]*objPlan{}}
	s.builder = b
	s.tables = map[string]*table{}
	s.routes = map[string]*table{}
	for _, t := range coupa.Catalog {
		tb, err := s.newTable(b, t)
		if err != nil {
			return err
		}
		s.tables[t.Name] = tb
		s.routes[t.Path] = tb
		if lt := newLineList(tb); lt != nil {
			s.routes[lt.meta.Path] = lt
		}
	}
	return nil
}

// newTable plans table t and seeds its initial records.
func (s *Server) newTable(b *builder, t coupa.Table) (*table, error) {
	p, err := b.tablePlan(t)
	if err != nil {
		return nil, err
	}
	cfg := s.cfg
	tb := &table{meta: t, plan: p, base: b.bases[t.Name], seed: s.render.seed, unreliable: unreliableUpdatedAt[t.Name]}
	tie := 0
	if t.Name == cfg.TieTable && cfg.TieSize > 0 {
		tie = min(cfg.TieSize, cfg.Records[t.Name]/2)
	}
	seedTable(tb, cfg.Records[t.Name], cfg.Seed, cfg.Epoch.Unix(), int64(cfg.History/time.Second), tie)
	return tb, nil
}

// idBases gives every catalog table its own id range, so a client that
// mixes tables up gets ids no other table has: table i of the catalog
// starts at (i+1)*stride+1, where stride is 1000 (invoices 1001.., purchase
// orders 2001.., as always) unless a table is configured with more than
// half that many records, when it grows tenfold until twice the largest
// table fits. Currencies start at 1, below every range: associations to a
// Currency point at its first few ids (smallRefCounts) and render the code
// the id stands for (USD is 1), in the currencies table as in every record.
func idBases(records map[string]int) map[string]int64 {
	stride := int64(1000)
	for _, n := range records {
		for int64(n)*2 > stride {
			stride *= 10
		}
	}
	bases := map[string]int64{}
	for i, t := range coupa.Catalog {
		bases[t.Name] = int64(i+1)*stride + 1
	}
	bases["currencies"] = 1
	return bases
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

// statusWriter counts a request as its status is written, before any byte
// of the answer leaves: a client that has read an answer always finds it
// counted (counting after the handler returned raced with the client).
type statusWriter struct {
	http.ResponseWriter
	status  int
	counted func(status int)
}

func (w *statusWriter) WriteHeader(code int) {
	w.count(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.count(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) count(code int) {
	if w.status == 0 {
		w.status = code
		w.counted(code)
	}
}

// ServeHTTP routes: POST /oauth2/token, GET <Path> of a catalog table (a
// list) and GET <Path>/<id> (one record, or 404 once it is deleted), where
// a line list resource (/api/purchase_order_lines) is served as a table.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The instance's own clock, second precision, in every answer.
	w.Header().Set("Date", s.Now().UTC().Format(http.TimeFormat))
	name := "other"
	sw := &statusWriter{ResponseWriter: w, counted: func(status int) { s.stats.request(name, status) }}
	defer func() {
		if sw.status == 0 { // an answer with no status written (none here)
			s.stats.request(name, 0)
		}
	}()
	switch {
	case r.URL.Path == "/oauth2/token":
		name = "token"
		s.handleToken(sw, r)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		tb, id, one, ok := s.route(r.URL.Path)
		if !ok {
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

// route finds the resource of an API path: a table's or line list's path
// (a list, one=false) or that path plus "/<id>" (one record). Paths may have
// several segments (/api/payables/invoices), so whole paths are matched,
// never their last segment alone.
func (s *Server) route(path string) (tb *table, id int64, one, ok bool) {
	path = strings.TrimSuffix(path, "/")
	if tb, ok := s.routes[path]; ok {
		return tb, 0, false, true
	}
	i := strings.LastIndexByte(path, '/')
	tb, ok = s.routes[path[:i]]
	id, err := strconv.ParseInt(path[i+1:], 10, 64)
	return tb, id, true, ok && err == nil
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
