package producer

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lagCollector exports coupa_kafka_cursor_lag_seconds: how far behind the
// instance each table is, computed when Prometheus scrapes.
//
// A successful pass publishes everything the instance showed up to its
// bound (the instance's clock when the pass began, minus one second). So at
// any moment the table lags the instance by the time since that pass began,
// plus the second the bound holds back. That grows between passes and drops
// at each successful one: an idle table that is fully up to date reads at
// most one poll interval plus a pass, however old its newest record is (the
// cursor's updated_at, which this metric used to subtract, can be days old
// on a quiet table). An alert on it fires only when passes stop succeeding
// or fall behind.
type lagCollector struct {
	desc *prometheus.Desc
	now  func() time.Time // time.Now, except in tests

	mu sync.Mutex
	// passStarted is the local time at which each table's last successful
	// pass read the instance's clock.
	passStarted map[string]time.Time
}

func newLagCollector(ns string) *lagCollector {
	return &lagCollector{
		desc: prometheus.NewDesc(ns+"_cursor_lag_seconds",
			"How far behind the instance the table is: time since its last successful pass read the instance's clock, plus the second a pass holds back.",
			[]string{"table"}, nil),
		now:         time.Now,
		passStarted: map[string]time.Time{},
	}
}

func (c *lagCollector) passDone(table string, started time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passStarted[table] = started
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for table, started := range c.passStarted {
		lag := now.Sub(started) + time.Second
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, lag.Seconds(), table)
	}
}
