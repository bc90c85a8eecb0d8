package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// StatusCmd is `coupa-kafka status`: one screen per table, from the
// committed cursors in Kafka and, when a `run` answers at --run-url, from its
// metrics and readiness.
type StatusCmd struct {
	KafkaFlags  `embed:""`
	LogFlags    `embed:""`
	InstanceURL string `name:"instance-url" env:"COUPA_INSTANCE_URL" help:"Only this Coupa instance's tables (default: every instance in the offsets topic)." group:"Coupa"`
	RunURL      string `name:"run-url" default:"http://localhost:8080" help:"Where a running 'coupa-kafka run' serves /metrics and /readyz; '' for Kafka only."`

	out io.Writer // stdout unless a test sets it
}

// tableStatus is what status knows of one table.
type tableStatus struct {
	cursor   offsets.Cursor
	hasLive  bool // the run's metrics name the table
	lag      time.Duration
	lastPass time.Time
	failed   float64
	stopped  bool
	problem  string // from /readyz
}

// Run prints the status table.
func (c *StatusCmd) Run(ctx context.Context) error {
	f := Flags{KafkaFlags: c.KafkaFlags, LogFlags: c.LogFlags}
	if err := f.validate(false); err != nil {
		return err
	}
	out := c.out
	if out == nil {
		out = os.Stdout
	}
	opts, err := c.kafkaOpts(f.logger())
	if err != nil {
		return err
	}
	cursors, err := offsets.Load(ctx, c.OffsetsTopic, opts...)
	if err != nil && !errors.Is(err, offsets.ErrNoOffsetsTopic) {
		return err
	}
	instance := ""
	if c.InstanceURL != "" {
		u, err := coupa.ParseInstanceURL(c.InstanceURL)
		if err != nil {
			return err
		}
		instance = u.Hostname()
	}
	tables := map[offsets.Key]*tableStatus{}
	for k, cur := range cursors {
		if k.Kind == "" && (instance == "" || k.Instance == instance) {
			tables[k] = &tableStatus{cursor: cur}
		}
	}
	live := "no run consulted"
	if c.RunURL != "" {
		live = c.addLive(ctx, tables, instance)
	}
	printStatus(out, tables, live, time.Now())
	return nil
}

// addLive adds what the run at RunURL says (metrics and readiness) to the
// tables of its instance, and returns a line about where it came from.
func (c *StatusCmd) addLive(ctx context.Context, tables map[offsets.Key]*tableStatus, instance string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	metrics, err := httpText(ctx, c.RunURL+"/metrics")
	if err != nil {
		return fmt.Sprintf("no run answered at %s (%v): cursors only", c.RunURL, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		return fmt.Sprintf("the metrics at %s did not parse (%v): cursors only", c.RunURL, err)
	}
	// A run serves one instance, or (COUPA_CONFIG) several, its metrics
	// labelled coupa_instance, a name that coupa_kafka_instance_info maps
	// to the host the cursors are keyed by.
	hosts := map[string]string{}
	forInstance := func(labels map[string]string) string {
		if h, ok := hosts[labels["coupa_instance"]]; ok {
			return h
		}
		return instance
	}
	get := func(table, host string) *tableStatus {
		for k, st := range tables {
			if k.Table == table && (host == "" || k.Instance == host) {
				return st
			}
		}
		st := &tableStatus{}
		tables[offsets.Key{Instance: orDash(host), Table: table}] = st
		return st
	}
	each := func(name string, fn func(table string, labels map[string]string, v float64)) {
		fam := families[name]
		if fam == nil {
			return
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			fn(labels["table"], labels, v)
		}
	}
	each("coupa_kafka_instance_info", func(_ string, l map[string]string, _ float64) {
		if instance == "" || l["host"] == instance {
			hosts[l["coupa_instance"]] = l["host"]
		}
	})
	mine := func(l map[string]string) bool { // with --instance-url, only that instance
		_, named := l["coupa_instance"]
		return !named || hosts[l["coupa_instance"]] != ""
	}
	each("coupa_kafka_cursor_lag_seconds", func(t string, l map[string]string, v float64) {
		if mine(l) {
			st := get(t, forInstance(l))
			st.hasLive, st.lag = true, time.Duration(v*float64(time.Second))
		}
	})
	each("coupa_kafka_last_successful_sync_timestamp_seconds", func(t string, l map[string]string, v float64) {
		if mine(l) {
			get(t, forInstance(l)).lastPass = time.Unix(int64(v), 0)
		}
	})
	each("coupa_kafka_table_stopped", func(t string, l map[string]string, v float64) {
		if mine(l) {
			st := get(t, forInstance(l))
			st.hasLive, st.stopped = true, v == 1
		}
	})
	each("coupa_kafka_passes_total", func(t string, l map[string]string, v float64) {
		if mine(l) && l["result"] == "failed" {
			get(t, forInstance(l)).failed = v
		}
	})
	if body, err := httpText(ctx, c.RunURL+"/readyz"); err == nil {
		for _, line := range strings.Split(body, "\n") {
			// "table: why", or with several instances "name: table: why".
			host := instance
			if name, rest, ok := strings.Cut(line, ": "); ok && len(hosts) > 0 {
				h, known := hosts[name]
				if !known {
					continue
				}
				host, line = h, rest
			}
			if table, problem, ok := strings.Cut(line, ": "); ok && !strings.Contains(table, " ") {
				get(table, host).problem = problem
			}
		}
	}
	return "live figures from the run at " + c.RunURL
}

func httpText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err == nil && resp.StatusCode != http.StatusOK && !strings.HasSuffix(url, "/readyz") {
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(b), err
}

func printStatus(w io.Writer, tables map[offsets.Key]*tableStatus, live string, now time.Time) {
	if len(tables) == 0 {
		fmt.Fprintln(w, "no tables yet: nothing has been synced into this offsets topic")
		fmt.Fprintln(w, "("+live+")")
		return
	}
	keys := make([]offsets.Key, 0, len(tables))
	for k := range tables {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, offsets.Key.Compare)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tTABLE\tCURSOR (updated_at, id)\tCOMMITTED\tLAG\tLAST PASS\tSTATE")
	for _, k := range keys {
		st := tables[k]
		committed, lag, last, state := "-", "-", "-", "-"
		if !st.cursor.CommittedAt.IsZero() {
			committed = now.Sub(st.cursor.CommittedAt).Round(time.Second).String() + " ago"
		}
		if st.hasLive {
			lag = st.lag.Round(time.Second).String()
			state = "syncing"
			if !st.lastPass.IsZero() {
				last = now.Sub(st.lastPass).Round(time.Second).String() + " ago"
			}
			if st.failed > 0 {
				state = fmt.Sprintf("syncing (%g failed passes so far)", st.failed)
			}
		}
		switch {
		case st.stopped:
			state = "STOPPED: " + st.problem
		case st.problem != "":
			state = "FAILING: " + st.problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Instance, k.Table, st.cursor.String(), committed, lag, last, state)
	}
	tw.Flush()
	fmt.Fprintln(w, "("+live+")")
}
