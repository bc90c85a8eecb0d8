package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/producer"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// app is a configured producer with what it was built from.
type app struct {
	log      *slog.Logger
	client   *coupa.Client
	kafka    []kgo.Opt
	registry *sr.Client
	metrics  *producer.Metrics
	prod     *producer.Producer
	// skipped are the tables COUPA_TABLES=all leaves out for want of
	// their scope (/readyz lists them).
	skipped []coupa.Table
}

// wiring holds the parts that differ between a real deployment and the demo.
type wiring struct {
	httpClient *http.Client // nil: system trust store (+ SSL_CERT_FILE)
	batch      int
}

// open validates flags and builds the Coupa client, Kafka options, registry
// and producer (which checks topics, fences older producers and restores
// cursors).
func open(ctx context.Context, f *Flags, w wiring) (*app, error) {
	if err := f.validate(true); err != nil {
		return nil, err
	}
	log := f.logger()
	metrics := producer.NewMetrics()
	kopts, err := f.kafkaOpts(log)
	if err != nil {
		return nil, err
	}
	client, err := coupa.New(coupa.Config{
		InstanceURL: f.InstanceURL, ClientID: f.ClientID, ClientSecret: f.ClientSecret,
		RateLimit: f.RateLimit, HTTPClient: w.httpClient, Logger: log, Observer: metrics,
	})
	if err != nil {
		return nil, err
	}
	rc, err := f.registryClient()
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	tables, _ := f.tables()
	redaction, _ := f.redaction() // validated above
	skipped, err := preflight(ctx, f, kopts, rc, client, tables)
	if err != nil {
		return nil, err
	}
	tables = withoutTables(tables, skipped)
	for _, t := range skipped {
		metrics.Skipped(t)
	}
	if len(skipped) > 0 {
		log.Warn("COUPA_TABLES=all: skipping the tables whose scope the OAuth client lacks; grant a scope and restart to sync its tables",
			"skipped", skippedText(skipped), "syncing", len(tables))
	}
	prod, err := producer.New(ctx, producer.Config{
		Coupa: client, Instance: client.Instance(), Registry: schemas.NewRegistry(rc), StaticSchemas: f.StaticSchemas,
		Kafka: kopts, Tables: tables, TopicPrefix: f.TopicPrefix, OffsetsTopic: f.OffsetsTopic, LineTopics: f.LineTopics,
		Topics:   producer.TopicSettings{Partitions: f.Partitions, ReplicationFactor: f.ReplicationFactor},
		Lookback: f.Lookback, Parallelism: f.Parallelism, BatchRecords: w.batch, Logger: log, Metrics: metrics,
		Redaction:   redaction,
		DeleteSweep: producer.DeleteSweep{Interval: f.DeleteSweep, Coupa: client.Idle()},
		ProducerOpts: func(table string) []kgo.Opt {
			// franz-go client metrics per table producer, told apart by
			// client_id; they unregister when a client closes.
			m := kprom.NewMetrics("coupa_kafka_client", kprom.Registerer(metrics.Registry), kprom.Gatherer(metrics.Registry), kprom.WithClientLabel())
			return []kgo.Opt{kgo.ClientID("coupa-kafka-" + table), kgo.WithHooks(m)}
		},
	})
	if err != nil {
		return nil, err
	}
	return &app{log: log, client: client, kafka: kopts, registry: rc, metrics: metrics, prod: prod, skipped: skipped}, nil
}

// withoutTables returns tables less those in drop.
func withoutTables(tables, drop []coupa.Table) []coupa.Table {
	out := make([]coupa.Table, 0, len(tables))
	for _, t := range tables {
		if !slices.ContainsFunc(drop, func(d coupa.Table) bool { return d.Name == t.Name }) {
			out = append(out, t)
		}
	}
	return out
}

// skippedText lists skipped tables with their scopes, "accounts (core.accounting.read), ...".
func skippedText(skipped []coupa.Table) string {
	parts := make([]string, len(skipped))
	for i, t := range skipped {
		parts[i] = fmt.Sprintf("%s (%s)", t.Name, t.Scope)
	}
	return strings.Join(parts, ", ")
}
