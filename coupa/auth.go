package coupa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokens mints and caches OAuth access tokens, one per table scope.
//
// Coupa grants scopes per object (core.invoice.read, ...), so each table asks
// for its own scope. Instances without per-object scopes (or clients not
// granted the one asked for) answer invalid_scope; Coupa's documented remedy
// is to ask again without a scope and take whatever the admin granted. Once
// an instance needed that fallback, every table shares the unscoped token.
//
// Coupa issues no refresh tokens, so a token is simply minted again: before
// it expires (when less than a sixth of its life, or a minute, is left; Coupa
// recommends renewing a 24 h token after 20 h) and when a request is answered
// 401 (the caller invalidates it).
type tokens struct {
	tokenURL string
	id       string
	secret   string
	hc       *http.Client
	now      func() time.Time

	mu       sync.Mutex
	noScopes bool
	cache    map[string]cachedToken // by scope; "" is the unscoped token
	minted   []string               // recent access tokens, for redaction
}

type cachedToken struct {
	tok     *oauth2.Token
	renewAt time.Time
}

func newTokens(base *url.URL, id, secret string, hc *http.Client) *tokens {
	return &tokens{
		tokenURL: base.String() + "/oauth2/token",
		id:       id,
		secret:   secret,
		hc:       hc,
		now:      time.Now,
		cache:    map[string]cachedToken{},
	}
}

// get returns a valid access token for scope, minting one if needed. Mints
// are serialised: concurrent tables wait for one token request rather than
// sending eight at once.
func (t *tokens) get(ctx context.Context, table, scope string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := scope
	if t.noScopes {
		key = ""
	}
	if c, ok := t.cache[key]; ok && t.now().Before(c.renewAt) {
		return c.tok.AccessToken, nil
	}
	tok, err := t.mint(ctx, table, key)
	if key != "" && isInvalidScope(err) {
		t.noScopes = true
		key = ""
		tok, err = t.mint(ctx, table, key)
	}
	if err != nil {
		return "", err
	}
	t.cache[key] = cachedToken{tok: tok, renewAt: renewAt(t.now(), tok.Expiry)}
	t.minted = append(t.minted, tok.AccessToken)
	if len(t.minted) > 32 {
		t.minted = t.minted[1:]
	}
	return tok.AccessToken, nil
}

// invalidate drops access (answered 401) so the next get mints a new token.
// A token another request already replaced is left alone.
func (t *tokens) invalidate(access string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.cache {
		if c.tok.AccessToken == access {
			delete(t.cache, k)
		}
	}
}

// usesFallback reports whether the instance needed the unscoped token.
func (t *tokens) usesFallback() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.noScopes
}

// secrets lists what must never be printed: the client secret and every
// access token minted recently.
func (t *tokens) secrets() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string{t.secret}, t.minted...)
}

func renewAt(now, expiry time.Time) time.Time {
	if expiry.IsZero() {
		return now.Add(time.Hour)
	}
	life := expiry.Sub(now)
	margin := life / 6
	if margin < time.Minute {
		margin = time.Minute
	}
	if margin > life/2 {
		margin = life / 2
	}
	return expiry.Add(-margin)
}

// mint asks the token endpoint for a token with scope ("" = no scope param).
// Credentials go in the form body, as Coupa's documentation shows.
func (t *tokens) mint(ctx context.Context, table, scope string) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{
		ClientID:     t.id,
		ClientSecret: t.secret,
		TokenURL:     t.tokenURL,
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	if scope != "" {
		cfg.Scopes = []string{scope}
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.hc))
	if err == nil {
		return tok, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, t.classify(table, err)
}

// classify turns an oauth2 error into one of ours, without echoing secrets.
func (t *tokens) classify(table string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		// Transport failures and malformed success responses.
		return &ResponseError{Reason: "token request failed: " + redactor{t.secretsLocked}.redact(err.Error()), Temporary: true}
	}
	status, ct := 0, ""
	if re.Response != nil {
		status, ct = re.Response.StatusCode, re.Response.Header.Get("Content-Type")
	}
	switch {
	case re.ErrorCode == "invalid_scope":
		return &scopeRefused{table: table}
	case status == http.StatusBadRequest || status == http.StatusUnauthorized:
		code := re.ErrorCode
		if code == "" {
			code = fmt.Sprintf("HTTP %d", status)
		}
		return fmt.Errorf("%w (%s): check COUPA_CLIENT_ID and COUPA_CLIENT_SECRET", ErrCredentials, code)
	case status >= 300 && status < 400:
		return &ResponseError{Status: status, ContentType: ct, Reason: "the token endpoint redirected; redirects are never followed"}
	default:
		return &ResponseError{
			Status:      status,
			ContentType: ct,
			Reason:      "unexpected answer to the token request",
			Snippet:     redactor{t.secretsLocked}.snippet(re.Body, 120),
			Temporary:   status == http.StatusTooManyRequests || status >= 500,
		}
	}
}

// secretsLocked is secrets for use while t.mu is held.
func (t *tokens) secretsLocked() []string {
	return append([]string{t.secret}, t.minted...)
}

// scopeRefused is the token endpoint's invalid_scope; get answers it by
// falling back to an unscoped token.
type scopeRefused struct{ table string }

func (e *scopeRefused) Error() string {
	return "coupa: the token endpoint refused the scope for " + e.table + " (invalid_scope)"
}

func isInvalidScope(err error) bool {
	var sr *scopeRefused
	return errors.As(err, &sr)
}
