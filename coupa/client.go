package coupa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// InstanceURL is the instance root, e.g. "https://myorg.coupahost.com"
	// (a bare host means https); see ParseInstanceURL.
	InstanceURL  string
	ClientID     string
	ClientSecret string

	// RateLimit is this client's request budget per second, shared by every
	// table. Default 15: Coupa allows 25 per instance for all integrations
	// together, and others share the instance.
	RateLimit float64
	// Burst is how many requests may go at once after an idle spell. Default 10.
	Burst int

	// HTTPClient carries the requests; redirects are never followed whatever
	// it says. Default: DefaultHTTPClient().
	HTTPClient *http.Client
	// RequestTimeout bounds one HTTP attempt. Default 60 s.
	RequestTimeout time.Duration
	// MaxRetryTime bounds the retries of one List call (the caller's context
	// bounds it too). Default 5 minutes.
	MaxRetryTime time.Duration

	Logger   *slog.Logger
	Observer Observer
}

// Observer receives what metrics need. Implementations must be safe for
// concurrent use.
type Observer interface {
	// Request is called once per HTTP attempt; status 0 is a transport error.
	Request(table string, status int, took time.Duration)
	// RateLimitWait is called with the time a request waited for the budget.
	RateLimitWait(table string, waited time.Duration)
}

// Client lists Coupa tables. It is safe for concurrent use; every table of one
// instance should share one Client so they share one rate budget.
type Client struct {
	base     *url.URL
	hc       *http.Client
	tokens   *tokens
	limit    *limiter
	log      *slog.Logger
	obs      Observer
	timeout  time.Duration
	maxRetry time.Duration
	stats    *stats
	red      redactor
	// idle: requests take only budget nobody else uses (see Idle).
	idle bool
}

// New validates cfg and returns a Client. It does not contact the instance.
func New(cfg Config) (*Client, error) {
	base, err := ParseInstanceURL(cfg.InstanceURL)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("coupa: COUPA_CLIENT_ID and COUPA_CLIENT_SECRET are required")
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 15
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.MaxRetryTime <= 0 {
		cfg.MaxRetryTime = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		if hc, err = DefaultHTTPClient(); err != nil {
			return nil, err
		}
	}
	noRedirects := *hc
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{
		base:     base,
		hc:       &noRedirects,
		tokens:   newTokens(base, cfg.ClientID, cfg.ClientSecret, &noRedirects),
		limit:    newLimiter(cfg.RateLimit, cfg.Burst),
		log:      cfg.Logger,
		obs:      cfg.Observer,
		timeout:  cfg.RequestTimeout,
		maxRetry: cfg.MaxRetryTime,
		stats:    newStats(),
	}
	c.red = redactor{c.tokens.secrets}
	return c, nil
}

// Idle returns a view of c for work that can wait (a delete sweep): the
// same instance, tokens and budget, but its requests go out only when the
// budget has room to spare, so they never delay a pass. Stats and metrics
// are shared.
func (c *Client) Idle() *Client {
	idle := *c
	idle.idle = true
	return &idle
}

// Instance returns the instance's host name, which identifies it in cursor
// keys and transactional ids.
func (c *Client) Instance() string { return c.base.Hostname() }

// Rate returns the current request budget per second (lower than configured
// while the client backs off from 429s).
func (c *Client) Rate() float64 { return c.limit.rate() }

// UsesUnscopedToken reports whether the instance refused per-object scopes
// and the client fell back to one unscoped token.
func (c *Client) UsesUnscopedToken() bool { return c.tokens.usesFallback() }

// Stats returns request counts so far.
func (c *Client) Stats() Stats { return c.stats.snapshot() }

// List fetches one page of t. Transient failures (5xx, 429, timeouts,
// connection resets, truncated bodies) are retried with exponential backoff
// and jitter until ctx ends or MaxRetryTime passes; everything else returns at
// once. A page is never made up: an answer that is not a JSON array of
// records is an error, never an empty page.
func (c *Client) List(ctx context.Context, t Table, q Query) (Page, error) {
	return retried(ctx, c, t.Name, func() (Page, error) {
		return fresh(c, "listing "+t.Name, func() (Page, error) { return c.do(ctx, t, q) })
	})
}

// retried makes attempts until one succeeds, the error is not temporary,
// ctx ends or MaxRetryTime passes (see List).
func retried[T any](ctx context.Context, c *Client, table string, try func() (T, error)) (T, error) {
	var zero T
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = 200 * time.Millisecond
	eb.MaxInterval = 20 * time.Second
	attempt := 0
	var last error // the last attempt's failure, for an error that ends on ctx
	op := func() (T, error) {
		attempt++
		p, err := try()
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return zero, backoff.Permanent(ctx.Err())
		}
		last = err
		var ra *retryAfter
		switch {
		case errors.As(err, &ra):
			return zero, backoff.RetryAfter(ra.seconds)
		case IsTemporary(err):
			return zero, err
		default:
			return zero, backoff.Permanent(err)
		}
	}
	notify := func(err error, wait time.Duration) {
		c.log.Warn("coupa request failed; retrying", "table", table, "attempt", attempt, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())
	}
	p, err := backoff.Retry(ctx, op, backoff.WithBackOff(eb), backoff.WithMaxElapsedTime(c.maxRetry), backoff.WithNotify(notify))
	if err != nil && ctx.Err() != nil && last != nil {
		// Say why the call kept failing, not only that time ran out.
		return zero, fmt.Errorf("%w (the last attempt: %v)", ctx.Err(), last)
	}
	if err != nil {
		var ra *backoff.RetryAfterError
		if errors.As(err, &ra) {
			// Still a 429, and as temporary as one without Retry-After.
			err = &ResponseError{Table: table, Status: http.StatusTooManyRequests, Reason: "still rate limited after retrying", Temporary: true}
		}
		return zero, err
	}
	return p, nil
}

// fresh makes one attempt, re-minting the token once if it was refused
// (401). what names the call in the error ("listing invoices").
func fresh[T any](c *Client, what string, attempt func() (T, error)) (T, error) {
	p, err := attempt()
	var stale *staleToken
	if errors.As(err, &stale) {
		c.tokens.invalidate(stale.access)
		p, err = attempt()
		if errors.As(err, &stale) {
			var zero T
			return zero, fmt.Errorf("coupa: %s: a freshly minted token was refused (401): %w", what, ErrCredentials)
		}
	}
	return p, err
}

// do sends one list request and interprets the answer.
func (c *Client) do(ctx context.Context, t Table, q Query) (Page, error) {
	u := *c.base
	u.Path = t.Path
	u.RawQuery = q.Values().Encode()
	resp, body, access, err := c.send(ctx, t, u)
	if err != nil {
		return Page{}, err
	}
	return c.interpret(t, resp, body, access)
}

// send makes one GET of u for table t within the rate budget, with the
// table's token: the answer and its body, or an error for a request that
// got no complete answer (the attempt timed out, the connection failed).
func (c *Client) send(ctx context.Context, t Table, u url.URL) (*http.Response, []byte, string, error) {
	wait := c.limit.wait
	if c.idle {
		wait = c.limit.waitIdle
	}
	waited, err := wait(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	if c.obs != nil {
		c.obs.RateLimitWait(t.Name, waited)
	}
	access, err := c.tokens.get(ctx, t.Name, t.Scope)
	if err != nil {
		return nil, nil, "", err
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, "", err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+access)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observe(t.Name, 0, time.Since(start))
		if ctx.Err() != nil {
			return nil, nil, "", ctx.Err()
		}
		if actx.Err() != nil {
			return nil, nil, "", c.timedOut(t)
		}
		return nil, nil, "", &ResponseError{Table: t.Name, Reason: "request failed: " + c.red.redact(err.Error()), Temporary: true}
	}
	defer resp.Body.Close()
	body, rerr := readBody(resp)
	if actx.Err() != nil && ctx.Err() == nil {
		// The attempt ran out of time while the answer came in. What came
		// is not to be trusted: a server whose client gives up may still
		// answer, e.g. an empty 200 from a handler that saw the request
		// cancelled. Count it as the timeout it is.
		c.observe(t.Name, 0, time.Since(start))
		return nil, nil, "", c.timedOut(t)
	}
	c.observe(t.Name, resp.StatusCode, time.Since(start))
	if rerr != nil {
		return nil, nil, "", &ResponseError{Table: t.Name, Status: resp.StatusCode, Reason: "reading the body failed: " + rerr.Error(), Temporary: true}
	}
	return resp, body, access, nil
}

// timedOut is the error of an attempt that outlasted RequestTimeout.
func (c *Client) timedOut(t Table) error {
	return &ResponseError{Table: t.Name, Reason: fmt.Sprintf("request failed: no complete answer within the request timeout (%v)", c.timeout), Temporary: true}
}

// readBody reads a response into one buffer sized from Content-Length when
// the server sent it (io.ReadAll would grow and copy a 700 KB page twice).
func readBody(resp *http.Response) ([]byte, error) {
	size := int64(512)
	if n := resp.ContentLength; n > 0 && n < maxBody {
		size = n + bytes.MinRead // ReadFrom keeps MinRead free for the read that sees EOF
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody))
	return buf.Bytes(), err
}

// maxBody bounds one response; 50 large invoices are far below it.
const maxBody = 256 << 20

func (c *Client) observe(table string, status int, took time.Duration) {
	c.stats.add(table, status)
	if c.obs != nil {
		c.obs.Request(table, status, took)
	}
}

func (c *Client) interpret(t Table, resp *http.Response, body []byte, access string) (Page, error) {
	ct := resp.Header.Get("Content-Type")
	bad := func(reason string, temporary bool) error {
		return &ResponseError{Table: t.Name, Status: resp.StatusCode, ContentType: ct, Reason: reason, Snippet: c.red.snippet(body, 120), Temporary: temporary}
	}
	switch s := resp.StatusCode; {
	case s == http.StatusOK:
	case s == http.StatusUnauthorized:
		return Page{}, &staleToken{access: access}
	case s == http.StatusForbidden:
		return Page{}, &ScopeError{Table: t.Name, Scope: t.Scope}
	case s == http.StatusTooManyRequests:
		c.limit.throttled()
		c.stats.throttled()
		if secs, ok := parseRetryAfter(resp.Header.Get("Retry-After")); ok {
			// The instance said when it takes requests again: every
			// table waits, not only this call.
			c.limit.pause(time.Duration(secs) * time.Second)
			return Page{}, &retryAfter{seconds: secs}
		}
		return Page{}, bad("rate limited", true)
	case s >= 300 && s < 400:
		return Page{}, &ResponseError{Table: t.Name, Status: s, ContentType: ct, Reason: "the instance redirected (to " + redirectHost(resp) + "); redirects are never followed: check COUPA_INSTANCE_URL"}
	case s >= 500:
		return Page{}, bad("server error", true)
	default:
		return Page{}, bad("request refused", false)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		// Even an empty array is two bytes: nothing at all is an answer
		// cut short, whatever its content type says.
		return Page{}, bad("empty body (cut short?)", true)
	}
	if !isJSON(ct) {
		return Page{}, bad("not JSON (an XML answer, a login page or a proxy's error page?)", false)
	}
	recs, err := decodePage(body, t.HasUpdatedAt())
	if err != nil {
		// Broken JSON under a JSON content type is most often a body cut
		// short on the way; the same request usually succeeds again.
		var syn *json.SyntaxError
		temporary := errors.As(err, &syn)
		return Page{}, bad(err.Error(), temporary)
	}
	c.limit.succeeded()
	var date time.Time
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		date = d.UTC()
	}
	return Page{Records: recs, Date: date}, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func redirectHost(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil || loc.Host == "" {
		return "an unknown location"
	}
	return loc.Host
}

func parseRetryAfter(v string) (int, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return n, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := time.Until(t)
		if d < 0 {
			d = 0
		}
		return int(d.Seconds() + 0.999), true
	}
	return 0, false
}

// staleToken is a 401: the token expired or was revoked.
type staleToken struct{ access string }

func (*staleToken) Error() string { return "coupa: access token refused (401)" }

// retryAfter carries a 429's Retry-After into the backoff.
type retryAfter struct{ seconds int }

func (e *retryAfter) Error() string {
	return fmt.Sprintf("coupa: rate limited; retry after %d s", e.seconds)
}
