package producer

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two instances' metrics share one registry, told apart by coupa_instance;
// an instance the process stops owning leaves no series behind, and one it
// gets back registers afresh.
func TestInstanceMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	east, west := NewInstanceMetrics(reg, "east"), NewInstanceMetrics(reg, "west")
	east.published.WithLabelValues("users").Add(3)
	west.published.WithLabelValues("users").Add(5)
	want := `
# HELP coupa_kafka_records_published_total Records published in committed transactions.
# TYPE coupa_kafka_records_published_total counter
coupa_kafka_records_published_total{coupa_instance="east",table="users"} 3
coupa_kafka_records_published_total{coupa_instance="west",table="users"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "coupa_kafka_records_published_total"); err != nil {
		t.Fatal(err)
	}
	east.Unregister()
	if n, err := testutil.GatherAndCount(reg, "coupa_kafka_records_published_total"); err != nil || n != 1 {
		t.Fatalf("after east is unregistered: %d series (%v), want west's only", n, err)
	}
	again := NewInstanceMetrics(reg, "east") // would panic if east's were still registered
	again.published.WithLabelValues("users").Inc()
	if n, _ := testutil.GatherAndCount(reg, "coupa_kafka_records_published_total"); n != 2 {
		t.Fatalf("%d series after east is registered again", n)
	}
}
