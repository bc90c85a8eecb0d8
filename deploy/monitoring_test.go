package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// producerMetrics are the metric names the producer exports, read from its
// source (prometheus "Name:" fields, with the coupa_kafka namespace), so the
// dashboard and the alerts cannot drift from what is really exported.
func producerMetrics(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../producer/*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	re := regexp.MustCompile(`Name: "([a-z_]+)"|ns\+"_([a-z_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names["coupa_kafka_"+m[1]+m[2]] = true
		}
	}
	if !names["coupa_kafka_cursor_lag_seconds"] || !names["coupa_kafka_table_stopped"] {
		t.Fatalf("could not read the producer's metric names: %v", names)
	}
	return names
}

var metricRef = regexp.MustCompile(`coupa_kafka_[a-z_]+`)

// The dashboard is valid Grafana JSON whose every query names metrics the
// producer exports, and it covers what an operator looks at.
func TestDashboardUsesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("helm/coupa-kafka/dashboards/coupa-kafka.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil || dash.UID == "" {
		t.Fatalf("dashboard: %v (uid %q)", err, dash.UID)
	}
	known := producerMetrics(t)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricRef.FindAllString(tg.Expr, -1) {
				used[m] = true
				if !known[m] {
					t.Errorf("panel %q queries %s, which the producer does not export", p.Title, m)
				}
			}
		}
	}
	for _, m := range []string{"coupa_kafka_records_published_total", "coupa_kafka_cursor_lag_seconds", "coupa_kafka_coupa_requests_total",
		"coupa_kafka_coupa_throttled_total", "coupa_kafka_transactions_total", "coupa_kafka_table_stopped"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// The PrometheusRule renders only when enabled, and alerts on metrics the
// producer exports: a stopped table, lag, no successful pass.
func TestHelmPrometheusRuleAndDashboard(t *testing.T) {
	helm := helmBinary(t)
	base := []string{"-f", chartDir + "/ci/test-values.yaml"}
	off, err := helmTemplate(t, helm, base...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(off, "kind: PrometheusRule") || strings.Contains(off, "grafana_dashboard") {
		t.Error("rule or dashboard rendered without being enabled")
	}
	on, err := helmTemplate(t, helm, append(base, "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")...)
	if err != nil {
		t.Fatal(err)
	}
	known := producerMetrics(t)
	for _, want := range []string{"kind: PrometheusRule", "alert: CoupaKafkaTableStopped", "alert: CoupaKafkaCursorLagHigh", "alert: CoupaKafkaNoSuccessfulPass",
		"{{ $labels.table }}", "grafana_dashboard: \"1\"", `"uid": "coupa-kafka"`} {
		if !strings.Contains(on, want) {
			t.Errorf("rendered chart lacks %s", want)
		}
	}
	for _, m := range metricRef.FindAllString(on, -1) {
		if !known[m] {
			t.Errorf("the chart refers to %s, which the producer does not export", m)
		}
	}
}
