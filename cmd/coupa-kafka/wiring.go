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

// wiring holds the parts that differ between a real deployment and the demo,
// and between the instances of one process.
type wiring struct {
	httpClient *http.Client // nil: system trust store (+ SSL_CERT_FILE)
	batch      int
	// log and metrics, when set, are the instance's (several instances
	// share a process's log and /metrics); nil: the process's own.
	log     *slog.Logger
	metrics *producer.Metrics
	// clientID names the instance's Kafka clients ("coupa-kafka-<table>"
	// by default).
	clientID string
}

// open validates flags and builds the Coupa client, Kafka options, registry
// and producer (which checks topics, fences older producers and restores
// cursors).
func open(ctx context.Context, f *Flags, w wiring) (*app, error) {
	a, err := prepare(ctx, f, w)
	if err != nil {
		return nil, err
	}
	if err := a.start(ctx, f, w); err != nil {
		return nil, err
	}
	return a, nil
}

// prepare validates flags, builds the Coupa client, Kafka options and
// registry client, and runs the startup checks: everything but the producer,
// which fences the tables' other writers (a standby replica prepares, and
// starts only once the group gives it the instance).
func prepare(ctx context.Context, f *Flags, w wiring) (*app, error) {
	if err := f.validate(true); err != nil {
		return nil, err
	}
	log, metrics := w.log, w.metrics
	if log == nil {
		log = f.logger()
	}
	if metrics == nil {
		metrics = producer.NewMetrics()
	}
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
	skipped, err := preflight(ctx, f, kopts, rc, client, tables)
	if err != nil {
		return nil, err
	}
	for _, t := range skipped {
		metrics.Skipped(t)
	}
	if len(skipped) > 0 {
		log.Warn("COUPA_TABLES=all: skipping the tables whose scope the OAuth client lacks; grant a scope and restart to sync its tables",
			"skipped", skippedText(skipped), "syncing", len(tables)-len(skipped))
	}
	return &app{log: log, client: client, kafka: kopts, registry: rc, metrics: metrics, skipped: skipped}, nil
}

// start builds the producer: it checks topics, fences older producers of
// the tables and restores their cursors.
func (a *app) start(ctx context.Context, f *Flags, w wiring) error {
	tables, _ := f.tables()
	tables = withoutTables(tables, a.skipped)
	redaction, _ := f.redaction() // validated by prepare
	clientID := w.clientID
	if clientID == "" {
		clientID = "coupa-kafka"
	}
	client, metrics := a.client, a.metrics
	prod, err := producer.New(ctx, producer.Config{
		Coupa: client, Instance: client.Instance(), Registry: schemas.NewRegistry(a.registry), StaticSchemas: f.StaticSchemas,
		Kafka: a.kafka, Tables: tables, TopicPrefix: f.TopicPrefix, OffsetsTopic: f.OffsetsTopic, LineTopics: f.LineTopics,
		Topics:   producer.TopicSettings{Partitions: f.Partitions, ReplicationFactor: f.ReplicationFactor},
		Lookback: f.Lookback, Parallelism: f.Parallelism, BatchRecords: w.batch, Logger: a.log, Metrics: metrics,
		Redaction:   redaction,
		DeleteSweep: producer.DeleteSweep{Interval: f.DeleteSweep, Coupa: client.Idle()},
		ProducerOpts: func(table string) []kgo.Opt {
			// franz-go client metrics per table producer, told apart by
			// client_id; they unregister when a client closes.
			m := kprom.NewMetrics("coupa_kafka_client", kprom.Registerer(metrics.Registerer), kprom.Gatherer(metrics.Registry), kprom.WithClientLabel())
			return []kgo.Opt{kgo.ClientID(clientID + "-" + table), kgo.WithHooks(m)}
		},
	})
	if err != nil {
		return err
	}
	a.prod = prod
	return nil
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
