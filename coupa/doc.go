// Package coupa is a client for the list endpoints of Coupa's REST API, built
// for change capture: it lists one page per call, keeps every record exactly as
// Coupa sent it, and reports the instance's own clock so callers can bound a
// pass without trusting the local one.
//
// The client handles what every Coupa integration must: OAuth 2.0 client
// credentials with one token per table scope (falling back to an unscoped token
// on instances that refuse per-object scopes), one rate limiter shared by every
// table of an instance that slows down on 429s, retries with backoff for
// transient failures, and refusal of anything that is not JSON. Secrets never
// appear in its errors or logs.
package coupa
