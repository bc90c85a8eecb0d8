package coupa

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// Exists reports whether record id of table t still exists: GET
// <path>/<id> answers 200 with that record (true), or 404 with Coupa's own
// JSON error body (false). It is the confirmation a delete sweep needs
// before it tombstones a record that a listing no longer shows. Everything
// else is an error, retried as List retries: a 404 that is not Coupa's
// answer (a proxy's page, a wrong path), a refused scope, an error page or a
// record with another id never reads as "deleted", because a false delete
// is worse than a late one.
func (c *Client) Exists(ctx context.Context, t Table, id int64) (bool, error) {
	what := "reading " + t.Name + " record " + strconv.FormatInt(id, 10)
	return retried(ctx, c, t.Name, func() (bool, error) {
		return fresh(c, what, func() (bool, error) { return c.exists(ctx, t, id) })
	})
}

// exists is one attempt of Exists.
func (c *Client) exists(ctx context.Context, t Table, id int64) (bool, error) {
	u := *c.base
	u.Path = t.Path + "/" + strconv.FormatInt(id, 10)
	u.RawQuery = url.Values{"fields": {`["id"]`}}.Encode()
	resp, body, access, err := c.send(ctx, t, u)
	if err != nil {
		return false, err
	}
	ct := resp.Header.Get("Content-Type")
	bad := func(reason string) error {
		return &ResponseError{Table: t.Name, Record: id, Status: resp.StatusCode, ContentType: ct, Reason: reason, Snippet: c.red.snippet(body, 120)}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var rec struct {
			ID *int64 `json:"id"`
		}
		if !isJSON(ct) || json.Unmarshal(body, &rec) != nil || rec.ID == nil || *rec.ID != id {
			return false, bad("the answer is not record " + strconv.FormatInt(id, 10))
		}
		c.limit.succeeded()
		return true, nil
	case http.StatusNotFound:
		var e struct {
			Errors map[string]json.RawMessage `json:"errors"`
		}
		if !isJSON(ct) || json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
			return false, bad("404 without Coupa's error body: not taken as deleted")
		}
		c.limit.succeeded()
		return false, nil
	}
	_, err = c.interpret(t, resp, body, access) // 401, 403, 429, 5xx, ...
	if err == nil {
		err = bad("unexpected answer")
	}
	return false, err
}
