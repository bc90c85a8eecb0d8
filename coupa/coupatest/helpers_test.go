package coupatest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// fixedEpoch makes data byte-identical across runs.
var fixedEpoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, mod func(*coupatest.Config)) *coupatest.Server {
	t.Helper()
	cfg := coupatest.DefaultConfig()
	cfg.Epoch = fixedEpoch
	if mod != nil {
		mod(&cfg)
	}
	return coupatest.NewTLS(t, cfg)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errorsBody(t *testing.T) map[string][]string {
	t.Helper()
	var e struct {
		Errors map[string][]string `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not a Coupa error body: %s", r.body)
	}
	return e.Errors
}

func do(t testing.TB, s *coupatest.Server, req *http.Request) resp {
	t.Helper()
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// tokenReq posts to the token endpoint with form credentials.
func tokenReq(t testing.TB, s *coupatest.Server, form url.Values, basicID, basicSecret string) resp {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL()+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	return do(t, s, req)
}

func token(t testing.TB, s *coupatest.Server, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	r := tokenReq(t, s, form, coupatest.DefaultClientID, coupatest.DefaultClientSecret)
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(r.body, &tok)
	return tok.AccessToken
}

// get lists with a token, asking for JSON.
func get(t testing.TB, s *coupatest.Server, tok, path string, q url.Values) resp {
	t.Helper()
	u := s.URL() + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	return do(t, s, req)
}

// records decodes a JSON array of objects.
func records(t testing.TB, r resp) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("not a JSON array: %v: %.200s", err, r.body)
	}
	return out
}

// listAll pages through a query ordered by id (safe: nothing changes),
// fetching only ids and updated-at unless q names fields.
func listAll(t testing.TB, s *coupatest.Server, tok, path string, q url.Values) []map[string]any {
	t.Helper()
	var all []map[string]any
	for off := 0; ; off += 50 {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("order_by", "id")
		if qq.Get("fields") == "" {
			qq.Set("fields", `["id","updated-at"]`) // small pages keep -race runs quick
		}
		qq.Set("offset", strconv.Itoa(off))
		page := records(t, get(t, s, tok, path, qq))
		all = append(all, page...)
		if len(page) < 50 {
			return all
		}
	}
}

func ids(recs []map[string]any) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = int64(r["id"].(float64))
	}
	return out
}
