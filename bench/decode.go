package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// baseline is the reference cost of the CPU scenario: rendering every page
// of a table in the simulator (no network, no TLS), and decoding the same
// pages with encoding/json into []map[string]any.
type baseline struct {
	Pages       int
	Records     int
	JSONBytes   int64
	RenderCPU   time.Duration // simulator handler only (ServeHTTP into a recorder)
	DecodeCPU   time.Duration // json.Unmarshal into []map[string]any
	DecodeWall  time.Duration
	RenderCalls int
}

// measureBaseline lists table by id keyset (order_by=id, id > last, 50 a
// page) straight through the simulator's handler, in chunks: render a chunk
// (CPU counted as rendering), collect garbage, decode the chunk (CPU counted
// as decoding). Forced collections between phases are not counted in either.
func measureBaseline(sim *coupatest.Server, table string) (baseline, error) {
	var b baseline
	t, err := coupa.LookupTable(table)
	if err != nil {
		return b, err
	}
	token, err := simToken(sim, t.Scope)
	if err != nil {
		return b, err
	}
	// Page i holds the ids states[50i:50i+50]: the id of the last record
	// of a page comes from the ground truth, so no parsing is timed as
	// rendering.
	states := sim.States(table)
	const chunkPages = 200
	last := int64(0)
	next := 0
	done := len(states) == 0
	for !done {
		bodies := make([][]byte, 0, chunkPages)
		runtime.GC()
		u0, s0 := rusage()
		for len(bodies) < chunkPages && !done {
			q := coupa.Query{Filters: []coupa.Filter{{Attr: "id", Op: coupa.Gt, Value: strconv.FormatInt(last, 10)}}, OrderBy: "id"}
			req := httptest.NewRequest(http.MethodGet, t.Path+"?"+q.Values().Encode(), nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			b.RenderCalls++
			if rec.Code != http.StatusOK {
				return b, fmt.Errorf("render %s: status %d: %s", table, rec.Code, rec.Body.String())
			}
			bodies = append(bodies, rec.Body.Bytes())
			next = min(next+coupa.MaxLimit, len(states))
			last = states[next-1].ID
			done = next == len(states)
		}
		u1, s1 := rusage()
		b.RenderCPU += (u1 - u0) + (s1 - s0)
		runtime.GC()
		start := time.Now()
		u0, s0 = rusage()
		for _, body := range bodies {
			var page []map[string]any
			if err := json.Unmarshal(body, &page); err != nil {
				return b, err
			}
			b.Pages++
			b.Records += len(page)
			b.JSONBytes += int64(len(body))
		}
		u1, s1 = rusage()
		b.DecodeWall += time.Since(start)
		b.DecodeCPU += (u1 - u0) + (s1 - s0)
	}
	return b, nil
}

// simToken mints an access token through the simulator's handler.
func simToken(sim *coupatest.Server, scope string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(coupatest.DefaultClientID, coupatest.DefaultClientSecret)
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("simulator token: status %d: %s", rec.Code, rec.Body.String())
	}
	return tok.AccessToken, nil
}
