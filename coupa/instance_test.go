package coupa_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

func TestParseInstanceURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, errHas string
	}{
		{in: "myorg.coupahost.com", want: "https://myorg.coupahost.com"},
		{in: "https://myorg.coupahost.com", want: "https://myorg.coupahost.com"},
		{in: "https://myorg.coupahost.com/", want: "https://myorg.coupahost.com"},
		{in: "  MyOrg.CoupaHost.com ", want: "https://myorg.coupahost.com"},
		{in: "https://127.0.0.1:8443", want: "https://127.0.0.1:8443"},
		{in: "", errHas: "empty"},
		{in: "http://myorg.coupahost.com", errHas: "only https"},
		{in: "ftp://myorg.coupahost.com", errHas: "not https"},
		{in: "https://myorg.coupahost.com/api", errHas: "has a path"},
		{in: "https://myorg.coupahost.com/?x=1", errHas: "query"},
		{in: "https://myorg.coupahost.com/#frag", errHas: "fragment"},
		{in: "https://user:pw@myorg.coupahost.com", errHas: "user info"},
		{in: "https://", errHas: "no host"},
	} {
		u, err := coupa.ParseInstanceURL(tc.in)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.errHas)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("%q: error leaks the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("%q: got %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

func TestQueryValues(t *testing.T) {
	q := coupa.Query{
		Filters: []coupa.Filter{
			{Attr: "updated_at", Op: coupa.GtOrEq, Value: "2024-01-02T03:04:05Z"},
			{Attr: "updated_at", Op: coupa.LtOrEq, Value: "2024-01-02T03:04:05Z"},
			{Attr: "id", Op: coupa.Gt, Value: "17"},
			{Attr: "status", Value: "approved"},
		},
		OrderBy: "id",
		Limit:   500,
	}
	got := q.Values().Encode()
	want := "dir=asc&id%5Bgt%5D=17&limit=50&order_by=id&status=approved&updated_at%5Bgt_or_eq%5D=2024-01-02T03%3A04%3A05Z&updated_at%5Blt_or_eq%5D=2024-01-02T03%3A04%3A05Z"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDecodePage(t *testing.T) {
	for _, tc := range []struct {
		name, body, errHas string
		n                  int
	}{
		{name: "empty array", body: `[]`, n: 0},
		{name: "records", body: `[{"id":1,"updated-at":"2016-10-07T06:59:46-07:00","total":"567.07"},{"id":2,"updated-at":"2016-10-07T13:59:46Z"}]`, n: 2},
		{name: "object", body: `{"errors":{"x":["bad"]}}`, errHas: "not a JSON array"},
		{name: "truncated", body: `[{"id":1,"updated-at":"2016-10-07T06:59`, errHas: "unexpected end"},
		{name: "cut inside a literal", body: `[{"id":1,"total":nu`, errHas: "unexpected end"},
		{name: "cut inside a number", body: `[{"id":1,"total":12`, errHas: "unexpected end"},
		{name: "html", body: `<html><body>Sign in</body></html>`, errHas: "not a JSON array"},
		{name: "string id", body: `[{"id":"1","updated-at":"2016-10-07T06:59:46Z"}]`, errHas: "not an integer"},
		{name: "float id", body: `[{"id":1.5,"updated-at":"2016-10-07T06:59:46Z"}]`, errHas: "not an integer"},
		{name: "no updated-at", body: `[{"id":1}]`, errHas: "updated-at"},
		{name: "zoneless datetime", body: `[{"id":1,"updated-at":"2016-10-07T06:59:46"}]`, errHas: "with a zone"},
		{name: "element not object", body: `[1]`, errHas: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := coupa.DecodePage([]byte(tc.body))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil || len(recs) != tc.n {
				t.Fatalf("got %d records, %v; want %d", len(recs), err, tc.n)
			}
		})
	}
	recs, _ := coupa.DecodePage([]byte(`[{"id":1,"updated-at":"2016-10-07T06:59:46-07:00","total":"567.07"}]`))
	if got := recs[0].UpdatedAt.Format("2006-01-02T15:04:05Z07:00"); got != "2016-10-07T13:59:46Z" {
		t.Errorf("updated-at normalised to %s", got)
	}
	if string(recs[0].Raw) != `{"id":1,"updated-at":"2016-10-07T06:59:46-07:00","total":"567.07"}` {
		t.Errorf("raw changed: %s", recs[0].Raw)
	}
}

// FuzzDecodePage: any body either decodes into records whose raw JSON is an
// object with the parsed id, or is an error; it never panics and never
// returns an empty page for a body that is not an empty array.
func FuzzDecodePage(f *testing.F) {
	for _, s := range []string{`[]`, `[{"id":1,"updated-at":"2016-10-07T06:59:46-07:00"}]`, `[{"id":1,"updated-at":"2016-10-07T06:59`, `<html>`, `{}`, `[null]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := coupa.DecodePage(body)
		if err != nil {
			return
		}
		if len(recs) == 0 && strings.TrimSpace(strings.ReplaceAll(string(body), " ", "")) != "[]" {
			// Whitespace inside the brackets is still an empty array.
			trimmed := strings.Join(strings.Fields(string(body)), "")
			if trimmed != "[]" {
				t.Fatalf("non-empty body %q decoded to an empty page", body)
			}
		}
		for _, r := range recs {
			if _, err := coupa.DecodeRecord(r.Raw); err != nil {
				t.Fatalf("record %s does not decode again: %v", r.Raw, err)
			}
			// The light scanner must agree with encoding/json (exact keys,
			// the last of a repeated key) on the id.
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Raw, &m); err != nil {
				t.Fatalf("record %s is not an object for encoding/json: %v", r.Raw, err)
			}
			if id, err := strconv.ParseInt(string(m["id"]), 10, 64); err != nil || id != r.ID {
				t.Fatalf("record %s: scanned id %d, encoding/json says %s", r.Raw, r.ID, m["id"])
			}
		}
	})
}
