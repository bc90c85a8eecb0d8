package producer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// The lag of an idle, fully synced table is the time since its last pass
// read the instance's clock (plus the second a pass holds back), not the age
// of its newest record: it stays small while passes succeed and grows when
// they stop.
func TestLagIsTimeSinceTheLastSuccessfulPass(t *testing.T) {
	c := newLagCollector("coupa_kafka")
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	c.passDone("users", now.Add(-10*time.Second))
	c.passDone("suppliers", now.Add(-2*time.Hour))
	want := `
# HELP coupa_kafka_cursor_lag_seconds How far behind the instance the table is: time since its last successful pass read the instance's clock, plus the second a pass holds back.
# TYPE coupa_kafka_cursor_lag_seconds gauge
coupa_kafka_cursor_lag_seconds{table="suppliers"} 7201
coupa_kafka_cursor_lag_seconds{table="users"} 11
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// A sync of an idle table whose newest record is old reports a lag of
// seconds, not the record's age.
func TestLagOfAnIdleTableAfterASync(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 3, Records: map[string]int{"users": 20}}, "users")
	m := NewMetrics()
	h.sync(ctx, func(c *Config) { c.Metrics = m })
	lag := testutil.ToFloat64(m.lag)
	if lag < 1 || lag > 30 {
		t.Errorf("lag %v s right after a successful pass; the newest record is months old, the table is not", lag)
	}
}

// When every table has stopped, Run returns with the reasons instead of
// idling forever, and table_stopped says which.
func TestRunReturnsWhenEveryTableStopped(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 30}}, "users")
	m := NewMetrics()
	first := h.producer(ctx, func(c *Config) { c.Metrics = m })
	defer first.Close()
	second := h.producer(ctx) // fences first
	defer second.Close()
	var stopped []PassResult
	err := first.Run(ctx, Poll{Min: time.Hour, Max: time.Hour}, func(r PassResult, _ error) {
		if r.Stopped {
			stopped = append(stopped, r)
		}
	})
	var fenced *FencedError
	if err == nil || !errors.As(err, &fenced) || !strings.Contains(err.Error(), "every table has stopped") {
		t.Fatalf("Run: %v, want the fence as the reason every table stopped", err)
	}
	if len(stopped) != 1 || testutil.ToFloat64(m.stopped.WithLabelValues("users")) != 1 {
		t.Errorf("stopped passes %v, gauge %v", stopped, testutil.ToFloat64(m.stopped.WithLabelValues("users")))
	}
}

// Passes are counted by result; refused credentials count as auth failures.
func TestPassMetricsCountAuthFailures(t *testing.T) {
	m := NewMetrics()
	m.pass("users", nil)
	m.pass("users", errors.New("coupa: HTTP 500"))
	m.pass("users", coupa.ErrCredentials)
	m.pass("users", &coupa.ScopeError{Table: "users", Scope: "core.user.read"})
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.passes.WithLabelValues("users", "ok")), 1, "ok passes"},
		{testutil.ToFloat64(m.passes.WithLabelValues("users", "failed")), 3, "failed passes"},
		{testutil.ToFloat64(m.authFailed.WithLabelValues("users")), 2, "auth failures"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}
