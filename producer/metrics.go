package producer

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// Metrics are the producer's Prometheus metrics. One Metrics serves one
// Coupa instance; it also observes the instance's Coupa client (it
// implements coupa.Observer).
type Metrics struct {
	// Registry gathers the metrics (and, from NewMetrics, the Go runtime's
	// and the process's).
	Registry *prometheus.Registry
	// Registerer is where they are registered: Registry itself, or Registry
	// with the label coupa_instance (NewInstanceMetrics). Register the
	// instance's other collectors (franz-go's) here too.
	Registerer prometheus.Registerer
	collectors []prometheus.Collector

	published   *prometheus.CounterVec
	requests    *prometheus.CounterVec
	waited      *prometheus.CounterVec
	throttled   *prometheus.CounterVec
	txns        *prometheus.CounterVec
	inDoubts    *prometheus.CounterVec
	extra       *prometheus.CounterVec
	untyped     *prometheus.CounterVec
	conflicts   *prometheus.CounterVec
	lag         *lagCollector
	passes      *prometheus.CounterVec
	authFailed  *prometheus.CounterVec
	stopped     *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	cursorTime  *prometheus.GaugeVec
	interval    *prometheus.GaugeVec
	freshness   *prometheus.GaugeVec
	tombstones  *prometheus.CounterVec
	sweeps      *prometheus.CounterVec
	confirms    *prometheus.CounterVec
	swept       *prometheus.GaugeVec
	skipped     *prometheus.GaugeVec
}

// NewMetrics registers the producer's metrics, with the Go runtime's and
// the process's, in a new registry: one instance per process.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return newMetrics(reg, reg)
}

// NewInstanceMetrics registers one instance's metrics in reg, each with the
// label coupa_instance=instance, so that the instances a process owns share
// one /metrics. Unregister removes them when the process stops owning the
// instance (so no process reports an instance another one syncs).
func NewInstanceMetrics(reg *prometheus.Registry, instance string) *Metrics {
	return newMetrics(reg, prometheus.WrapRegistererWith(prometheus.Labels{"coupa_instance": instance}, reg))
}

// Unregister removes the metrics from the registry.
func (m *Metrics) Unregister() {
	for _, c := range m.collectors {
		m.Registerer.Unregister(c)
	}
}

func newMetrics(reg *prometheus.Registry, as prometheus.Registerer) *Metrics {
	ns := "coupa_kafka"
	m := &Metrics{
		Registry: reg, Registerer: as,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_published_total",
			Help: "Records published in committed transactions."}, []string{"table"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "coupa_requests_total",
			Help: "Coupa API requests by table and HTTP status (0 = transport error)."}, []string{"table", "status"}),
		waited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "coupa_rate_limit_wait_seconds_total",
			Help: "Time requests waited for the shared Coupa request budget."}, []string{"table"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "coupa_throttled_total",
			Help: "Coupa answers with HTTP 429."}, []string{"table"}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "transactions_total",
			Help: "Kafka transactions by result (commit, abort)."}, []string{"table", "result"}),
		inDoubts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "transactions_in_doubt_total",
			Help: "Commits whose answer was lost, by how they were settled (committed, aborted)."}, []string{"table", "outcome"}),
		extra: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "extra_fields_total",
			Help: "Values kept as JSON text in the extra map because the schema did not know them or they did not fit."}, []string{"table"}),
		untyped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "untyped_values_total",
			Help: "Values published untyped, waiting in custom_fields or extra for a schema version that types them: custom fields and new Coupa keys while schemas are static (or the registry refused a new version)."}, []string{"table"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "type_conflicts_total",
			Help: "Values whose JSON type conflicts with the type their field learned (text where an object was learned, ...): published null in the typed field and kept in custom_fields or extra."}, []string{"table"}),
		lag: newLagCollector(ns),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "passes_total",
			Help: "Passes by result (ok, failed)."}, []string{"table", "result"}),
		authFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "auth_failures_total",
			Help: "Passes that failed because Coupa refused the credentials or a scope."}, []string{"table"}),
		stopped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "table_stopped",
			Help: "1 when the table has stopped syncing (fenced, incompatible schema, another writer of its cursor); 0 otherwise."}, []string{"table"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_successful_sync_timestamp_seconds",
			Help: "Unix time when the table's last pass completed."}, []string{"table"}),
		cursorTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "cursor_updated_at_timestamp_seconds",
			Help: "The committed cursor's updated_at as Unix time."}, []string{"table"}),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "poll_interval_seconds",
			Help: "The table's current polling interval: short after a pass that found changes, doubling while passes find none (run only)."}, []string{"table"}),
		freshness: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "freshness_seconds",
			Help: "As of the table's last successful pass: the instance's clock minus the updated_at of the newest committed change (grows on a quiet table; see cursor_lag_seconds for falling behind)."}, []string{"table"}),
		tombstones: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tombstones_published_total",
			Help: "Tombstones published in committed transactions: records a delete sweep found deleted, and their lines (table topics); lines a new version of their parent dropped (line topics)."}, []string{"table"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "delete_sweeps_total",
			Help: "Delete sweeps by how they ended: completed; abandoned (the listing left out records that exist: a filtered listing, nothing is deleted on its word); failed (an error; resumed later)."}, []string{"table", "result"}),
		confirms: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "delete_sweep_checks_total",
			Help: "Records the delete sweep's listing left out, by what reading them one by one answered: gone (404, tombstoned) or exists (kept)."}, []string{"table", "answer"}),
		swept: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "delete_sweep_completed_timestamp_seconds",
			Help: "Unix time when the table's last delete sweep completed."}, []string{"table"}),
		skipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "table_skipped",
			Help: "1 for a catalog table COUPA_TABLES=all skips because the OAuth client lacks its scope (grant the scope and restart to sync it)."}, []string{"table", "scope"}),
	}
	m.collectors = []prometheus.Collector{m.published, m.requests, m.waited, m.throttled, m.txns, m.inDoubts, m.extra, m.untyped, m.conflicts, m.lag, m.passes, m.authFailed, m.stopped, m.lastSuccess, m.cursorTime, m.interval, m.freshness,
		m.tombstones, m.sweeps, m.confirms, m.swept, m.skipped}
	as.MustRegister(m.collectors...)
	return m
}

// Request implements coupa.Observer.
func (m *Metrics) Request(table string, status int, _ time.Duration) {
	m.requests.WithLabelValues(table, strconv.Itoa(status)).Inc()
	if status == 429 {
		m.throttled.WithLabelValues(table).Inc()
	}
}

// RateLimitWait implements coupa.Observer.
func (m *Metrics) RateLimitWait(table string, waited time.Duration) {
	m.waited.WithLabelValues(table).Add(waited.Seconds())
}

func (m *Metrics) committed(table string, records int, st schemas.Stats) {
	m.txns.WithLabelValues(table, "commit").Inc()
	m.published.WithLabelValues(table).Add(float64(records))
	m.converted(table, st)
}

// linesCommitted counts the lines a commit published to a line topic, under
// the line topic's table name ("invoice_lines").
func (m *Metrics) linesCommitted(lineTable string, records int, st schemas.Stats) {
	m.published.WithLabelValues(lineTable).Add(float64(records))
	m.converted(lineTable, st)
}

// converted counts what the committed values could not type.
func (m *Metrics) converted(table string, st schemas.Stats) {
	m.extra.WithLabelValues(table).Add(float64(st.Extra))
	m.untyped.WithLabelValues(table).Add(float64(st.Untyped))
	m.conflicts.WithLabelValues(table).Add(float64(st.Conflicts))
}

// tombstoned counts n tombstones committed to table's topic.
func (m *Metrics) tombstoned(table string, n int) {
	if n > 0 {
		m.tombstones.WithLabelValues(table).Add(float64(n))
	}
}

// sweepEnded counts a sweep that completed, was abandoned or failed.
func (m *Metrics) sweepEnded(table, result string) { m.sweeps.WithLabelValues(table, result).Inc() }

// sweepChecked counts the answers of the checks of a sweep step.
func (m *Metrics) sweepChecked(table string, gone, exists int) {
	m.confirms.WithLabelValues(table, "gone").Add(float64(gone))
	m.confirms.WithLabelValues(table, "exists").Add(float64(exists))
}

func (m *Metrics) sweepCompleted(table string, at time.Time) {
	if !at.IsZero() {
		m.swept.WithLabelValues(table).Set(float64(at.Unix()))
	}
}

// Skipped sets the table_skipped gauge of a table not synced because the
// client lacks its scope.
func (m *Metrics) Skipped(t coupa.Table) { m.skipped.WithLabelValues(t.Name, t.Scope).Set(1) }

func (m *Metrics) aborted(table string) { m.txns.WithLabelValues(table, "abort").Inc() }

func (m *Metrics) inDoubt(table, outcome string) { m.inDoubts.WithLabelValues(table, outcome).Inc() }

func (m *Metrics) cursor(table string, updatedAt time.Time) {
	if !updatedAt.IsZero() {
		m.cursorTime.WithLabelValues(table).Set(float64(updatedAt.Unix()))
	}
}

// passDone records a successful pass that read the instance's clock at
// started (local time).
func (m *Metrics) passDone(table string, started time.Time) {
	m.lastSuccess.WithLabelValues(table).SetToCurrentTime()
	m.lag.passDone(table, started)
}

// pass counts a pass by its result; a failure caused by Coupa refusing the
// credentials or a scope is also an auth failure.
func (m *Metrics) pass(table string, err error) {
	if err == nil {
		m.passes.WithLabelValues(table, "ok").Inc()
		return
	}
	m.passes.WithLabelValues(table, "failed").Inc()
	var scope *coupa.ScopeError
	if errors.Is(err, coupa.ErrCredentials) || errors.As(err, &scope) {
		m.authFailed.WithLabelValues(table).Inc()
	}
}

// polled records the table's polling interval after a pass and, after a
// successful one, how fresh its newest committed change is.
func (m *Metrics) polled(table string, interval time.Duration, res PassResult, err error) {
	m.interval.WithLabelValues(table).Set(interval.Seconds())
	if err == nil && !res.InstanceTime.IsZero() && !res.Cursor.UpdatedAt.IsZero() {
		m.freshness.WithLabelValues(table).Set(res.InstanceTime.Add(time.Second).Sub(res.Cursor.UpdatedAt).Seconds())
	}
}

// tableStopped sets the table_stopped gauge.
func (m *Metrics) tableStopped(table string, stopped bool) {
	v := 0.0
	if stopped {
		v = 1
	}
	m.stopped.WithLabelValues(table).Set(v)
}
