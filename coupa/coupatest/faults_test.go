package coupatest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

func TestRateLimit(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.Records = map[string]int{"users": 1}
		c.RateLimit, c.Burst = 2, 5
	})
	tok := token(t, s, "")
	count := func() (ok, limited int, retryAfter bool) {
		for i := 0; i < 12; i++ {
			r := get(t, s, tok, "/api/users", nil)
			switch r.status {
			case 200:
				ok++
			case 429:
				limited++
				retryAfter = retryAfter || r.header.Get("Retry-After") != ""
			default:
				t.Fatalf("status %d", r.status)
			}
		}
		return
	}
	if ok, limited, _ := count(); ok != 12 || limited != 0 {
		t.Fatalf("rate limit off: %d ok %d limited", ok, limited)
	}
	s.Faults().RateLimit(true)
	ok, limited, ra := count()
	if ok < 5 || ok > 7 || limited == 0 || ra {
		t.Fatalf("burst 5: %d ok, %d limited, Retry-After %v", ok, limited, ra)
	}
	time.Sleep(1100 * time.Millisecond) // drains 2 per second
	s.Faults().SendRetryAfter(true)
	if ok, _, ra := count(); ok < 2 || ok > 4 || !ra {
		t.Fatalf("after 1s: %d ok, Retry-After %v", ok, ra)
	}
	if st := s.Stats(); st.Throttled == 0 || st.Total("users", 429) != st.Throttled || st.Total("users", 200) == 0 || st.Tokens != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInjectedFaults(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"contracts": 30} })
	tok := token(t, s, "")
	cases := []struct {
		fault coupatest.Fault
		check func(t *testing.T, r resp)
	}{
		{coupatest.FaultServerErrorHTML, func(t *testing.T, r resp) {
			if r.status < 502 || r.status > 504 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
			}
		}},
		{coupatest.FaultServerErrorJSON, func(t *testing.T, r resp) {
			if r.status != 500 {
				t.Fatalf("%d", r.status)
			}
			r.errorsBody(t)
		}},
		{coupatest.FaultTruncate, func(t *testing.T, r resp) {
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || json.Valid(r.body) || !bytes.HasPrefix(r.body, []byte("[")) {
				t.Fatalf("%d %s valid=%v", r.status, r.header.Get("Content-Type"), json.Valid(r.body))
			}
		}},
		{coupatest.FaultLoginPage, func(t *testing.T, r resp) {
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.Contains(r.body, []byte("Sign In")) {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}},
	}
	for _, tc := range cases {
		s.Faults().Inject(tc.fault, 1)
		tc.check(t, get(t, s, tok, "/api/contracts", nil))
		if r := get(t, s, tok, "/api/contracts", nil); r.status != 200 || !json.Valid(r.body) {
			t.Fatalf("fault %v outlived its injection: %d", tc.fault, r.status)
		}
	}
	// Probabilities: certain failure, then off again.
	for _, set := range []func(float64){s.Faults().ServerErrors, s.Faults().Truncate, s.Faults().LoginPage} {
		set(1)
		r := get(t, s, tok, "/api/contracts", nil)
		if r.status == 200 && json.Valid(r.body) && strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatal("probability 1 did not fail")
		}
		set(0)
	}
	if r := get(t, s, tok, "/api/contracts", nil); r.status != 200 || !json.Valid(r.body) {
		t.Fatal("faults still on")
	}
	if st := s.Stats(); st.Total("contracts", 500) == 0 || st.Total("contracts", 200) == 0 {
		t.Fatalf("stats %+v", st.Requests)
	}
}

func TestLatency(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"approvals": 1} })
	tok := token(t, s, "")
	s.Faults().Latency(200*time.Millisecond, 50*time.Millisecond)
	t0 := time.Now()
	get(t, s, tok, "/api/approvals", nil)
	if d := time.Since(t0); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("latency %v, want 200ms +/- 50ms", d)
	}
	s.Faults().Reset()
	t0 = time.Now()
	get(t, s, tok, "/api/approvals", nil)
	if d := time.Since(t0); d > 150*time.Millisecond {
		t.Fatalf("latency after Reset %v", d)
	}
}
