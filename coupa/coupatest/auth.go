package coupatest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// authority is the instance's OAuth 2.0 / OIDC client-credentials server.
type authority struct {
	mu      sync.Mutex
	clients map[string]Client
	tokens  map[string]*token
	noScope bool
	ttl     time.Duration
}

type token struct {
	scopes  map[string]bool
	issued  time.Time
	expires time.Time
}

func newAuthority(cfg Config) *authority {
	a := &authority{clients: map[string]Client{}, tokens: map[string]*token{}, noScope: cfg.NoObjectScopes, ttl: cfg.TokenTTL}
	for _, c := range cfg.Clients {
		a.clients[c.ID] = c
	}
	return a
}

func writeOAuthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// handleToken is POST /oauth2/token: grant_type=client_credentials, with
// the client's credentials in HTTP Basic auth or in the form, and an
// optional space-separated scope.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	// ParseForm reads the body only for form-encoded requests, as a Rails
	// server does: a JSON body leaves the grant type missing.
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request")
		return
	} else if gt != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	a := s.auth
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1 form-encodes id and secret inside Basic auth;
		// clients that do not still work when nothing needed encoding.
		if u, err := url.QueryUnescape(id); err == nil {
			if _, ok := a.clients[id]; !ok {
				id = u
			}
		}
		if u, err := url.QueryUnescape(secret); err == nil && a.clients[id].Secret != secret {
			secret = u
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := a.clients[id]
	if !ok || id == "" || c.Secret != secret {
		writeOAuthError(w, http.StatusBadRequest, "invalid_client")
		return
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	granted := map[string]bool{}
	for _, sc := range c.Scopes {
		granted[sc] = true
	}
	scopes := granted
	a.mu.Lock()
	noScope := a.noScope
	a.mu.Unlock()
	if len(requested) > 0 {
		if noScope {
			writeOAuthError(w, http.StatusBadRequest, "invalid_scope")
			return
		}
		scopes = map[string]bool{}
		for _, sc := range requested {
			if !granted[sc] {
				writeOAuthError(w, http.StatusBadRequest, "invalid_scope")
				return
			}
			scopes[sc] = true
		}
	}
	var raw [32]byte
	rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	a.mu.Lock()
	a.tokens[tok] = &token{scopes: scopes, issued: time.Now(), expires: s.Now().Add(a.ttl)}
	a.mu.Unlock()
	s.stats.add(1, 0)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"expires_in":   int64(a.ttl / time.Second),
	})
}

// authorize checks the bearer token of a list call: 401 when it is missing,
// unknown or expired (by the instance's clock), 403 when it lacks scope.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, scope string) bool {
	h := r.Header.Get("Authorization")
	var tok string
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	a := s.auth
	a.mu.Lock()
	var expires time.Time
	var scoped bool
	t, ok := a.tokens[tok]
	if ok { // read under the lock: ExpireTokens may run concurrently
		expires, scoped = t.expires, t.scopes[scope]
	}
	a.mu.Unlock()
	switch {
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"`)
		writeErrors(w, http.StatusUnauthorized, "base", "The access token is invalid")
		return false
	case !s.Now().Before(expires):
		w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token expired"`)
		writeErrors(w, http.StatusUnauthorized, "base", "The access token expired")
		return false
	case !scoped:
		w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="insufficient_scope", error_description="The access token does not have the required scope", scope="`+scope+`"`)
		writeErrors(w, http.StatusForbidden, "base", "The access token lacks scope "+scope)
		return false
	}
	return true
}

// ExpireTokens makes every issued token expired, as if a day had passed.
func (s *Server) ExpireTokens() { s.ExpireTokensOlderThan(0) }

// ExpireTokensOlderThan expires the tokens issued at least age ago. Churn
// uses it: on a real instance a token expires hours after it was minted,
// never in the milliseconds between its minting and its first use, which
// ExpireTokens can do to a client that just re-minted one.
func (s *Server) ExpireTokensOlderThan(age time.Duration) {
	a := s.auth
	a.mu.Lock()
	for _, t := range a.tokens {
		if time.Since(t.issued) >= age { // local time: an age, not an instant of the instance's clock
			t.expires = time.Time{}
		}
	}
	a.mu.Unlock()
}

// SetNoObjectScopes switches per-object scopes off (true) or on at runtime.
func (s *Server) SetNoObjectScopes(on bool) {
	s.auth.mu.Lock()
	s.auth.noScope = on
	s.auth.mu.Unlock()
}

// RotateSecret gives the OAuth client id a new secret, as an administrator
// does in Coupa's setup: a deployment still using the old one is refused
// (invalid_client) at its next token request. Tokens already issued stay
// valid until they expire (ExpireTokens ends them at once). It reports
// whether the client exists.
func (s *Server) RotateSecret(id, secret string) bool {
	a := s.auth
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.clients[id]
	if ok {
		c.Secret = secret
		a.clients[id] = c
	}
	return ok
}
