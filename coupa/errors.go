package coupa

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCredentials means the instance refused the OAuth client (invalid_client
// or another 400 from the token endpoint). Retrying cannot help.
var ErrCredentials = errors.New("coupa refused the OAuth client credentials")

// ScopeError means the token lacks the scope a table needs (HTTP 403).
type ScopeError struct {
	Table string
	Scope string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("coupa: listing %s was forbidden (403): the OAuth client needs scope %s; grant it to the client in Coupa (Setup > OAuth2/OpenID Connect Clients)", e.Table, e.Scope)
}

// ResponseError is an answer the client could not use: an unexpected status,
// a body that is not JSON, or a truncated body. It names what came back so the
// operator can tell a login page from an outage, but never a secret.
type ResponseError struct {
	Table       string // empty for the token endpoint
	Record      int64  // the record read by id (Exists); 0 for a listing
	Status      int
	ContentType string
	// Snippet is the start of the body, secrets redacted.
	Snippet string
	// Reason says what was wrong ("not JSON", "truncated JSON", ...).
	Reason string
	// Temporary is true where a retry may succeed (5xx, 429, truncation).
	Temporary bool
}

func (e *ResponseError) Error() string {
	where := "token endpoint"
	if e.Table != "" {
		where = "listing " + e.Table
	}
	if e.Record != 0 {
		where = fmt.Sprintf("reading %s record %d", e.Table, e.Record)
	}
	ct := e.ContentType
	if ct == "" {
		ct = "no content type"
	}
	if e.Status == 0 {
		// No HTTP answer at all: a transport failure (refused, reset,
		// timed out, TLS), not a status the instance sent.
		return fmt.Sprintf("coupa: %s: no answer from the instance (transport error): %s", where, e.Reason)
	}
	msg := fmt.Sprintf("coupa: %s: HTTP %d (%s): %s", where, e.Status, ct, e.Reason)
	if e.Snippet != "" {
		msg += fmt.Sprintf("; body starts %q", e.Snippet)
	}
	return msg
}

// IsTemporary reports whether err is worth retrying later.
func IsTemporary(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Temporary
}

// redactor removes secrets from text that may end up in errors or logs.
type redactor struct {
	secrets func() []string
}

func (r redactor) redact(s string) string {
	for _, sec := range r.secrets() {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// snippet returns the first n bytes of body as printable text, secrets
// redacted. Redaction comes first: cutting first could leave the start of a
// secret at the end of the snippet, where no longer whole it would not be
// recognised. Only a window of the body is searched (secrets are far shorter
// than the window), so a large body costs no more than a small one.
func (r redactor) snippet(body []byte, n int) string {
	const window = 8 << 10
	if len(body) > n+window {
		body = body[:n+window]
	}
	s := r.redact(string(body))
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}
