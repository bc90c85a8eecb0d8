package producer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// Registrar registers a table's value schema under a subject and returns
// its id (schemas.Registry does, checking compatibility first), and reads
// the latest version of a subject back ("" when none), where learned
// fields are kept (see topicSchema).
type Registrar interface {
	Register(ctx context.Context, subject string, t *schemas.Table) (int, error)
	Latest(ctx context.Context, subject string) (string, error)
	SchemaByID(ctx context.Context, id int) (string, error)
}

// The defaults the CLI shows and the library applies, defined once.
const (
	// DefaultLookback is the lookback window: writes that become visible
	// up to this late are still published.
	DefaultLookback = 5 * time.Minute
	// DefaultParallelism is how many slices of a backfill are read at once.
	DefaultParallelism = 8
)

// Config configures a Producer. Zero values take the documented defaults.
type Config struct {
	// Coupa lists the tables; one client for all tables shares one budget.
	Coupa Lister
	// Instance is the Coupa instance's host; it names cursors and
	// transactional ids.
	Instance string
	Registry Registrar
	// StaticSchemas keeps value schemas as generated (and as already
	// learned): no new version is registered for a custom field or a key a
	// newer Coupa release adds; their values wait in custom_fields and
	// extra (coupa_kafka_untyped_values_total counts them). For registries
	// whose policy forbids automatic registration.
	StaticSchemas bool
	// Kafka are the connection options (brokers, TLS, SASL, logger).
	Kafka []kgo.Opt
	// ProducerOpts, when set, adds options to a table's transactional
	// producer only (e.g. a client id and metrics hooks): short-lived
	// clients (admin, restore) use Kafka alone.
	ProducerOpts func(table string) []kgo.Opt
	Tables       []coupa.Table
	// TopicPrefix is prepended to table names: "coupa." gives "coupa.invoices".
	TopicPrefix  string
	OffsetsTopic string
	Topics       TopicSettings
	// LineTopics publishes the lines of the tables that have lines
	// (invoices, purchase orders, requisitions, expense reports) to their
	// own topics too, TopicPrefix + Table.LineTopic ("coupa.invoice_lines"),
	// in the same transactions as their parents. The CLI turns it on.
	LineTopics bool
	// Lookback is the recent window every incremental pass re-reads for
	// late-visible writes. Zero means none, which misses any write that
	// becomes visible after a pass went past its updated_at: set
	// DefaultLookback unless you know better (the CLI does).
	Lookback time.Duration
	// BatchRecords and BatchLinger bound one transaction. Defaults 1000
	// records and 2 s. Records are Kafka records: a parent and its lines
	// count 1 + lines (a batch closes at the page that reaches the bound).
	BatchRecords int
	BatchLinger  time.Duration
	// Parallelism is how many slices of one table's pass are walked at once
	// (each keeps one request in flight). Default DefaultParallelism: with
	// Coupa's ~200 ms latency, 5 in flight already use 25 requests/s.
	Parallelism int
	// SliceRecords is the size of a slice in records. Default 2500 (50 pages).
	SliceRecords int
	// CommitTimeout bounds one transaction's produce and commit, also after
	// shutdown began. Default 30 s.
	CommitTimeout time.Duration
	// MaxCommitAttempts is how many failed transactions in a row stop a
	// table. Default 10.
	MaxCommitAttempts int
	// ProgressEvery is the interval of progress log lines. Default 10 s.
	ProgressEvery time.Duration
	Logger        *slog.Logger
	Metrics       *Metrics
	// DeleteSweep finds the records Coupa deleted (see DeleteSweep); off
	// when its Interval is zero.
	DeleteSweep DeleteSweep
	// Redaction is what each table's sensitive fields become before they
	// reach Kafka (see schemas.Redaction). A table without an entry gets
	// schemas.DefaultRedaction; credentials are excluded in every case.
	Redaction map[string]schemas.Redaction

	// newTxnClient makes a table's transactional client (newKgoClient;
	// tests wrap it to fail on cue).
	newTxnClient func(table string, opts []kgo.Opt) (txnClient, error)
}

func (c *Config) defaults() error {
	var errs []error
	if c.Coupa == nil {
		errs = append(errs, errors.New("producer: no Coupa client"))
	}
	if c.Instance == "" {
		errs = append(errs, errors.New("producer: no instance name"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("producer: no schema registry"))
	}
	if len(c.Tables) == 0 {
		errs = append(errs, errors.New("producer: no tables"))
	}
	if c.OffsetsTopic == "" {
		c.OffsetsTopic = "coupa-offsets"
	}
	if err := c.DeleteSweep.defaults(); err != nil {
		errs = append(errs, err)
	}
	if c.Lookback < 0 {
		errs = append(errs, errors.New("producer: negative lookback"))
	}
	if c.Topics.Partitions == 0 {
		c.Topics.Partitions = -1
	}
	if c.Topics.ReplicationFactor == 0 {
		c.Topics.ReplicationFactor = -1
	}
	if c.BatchRecords <= 0 {
		c.BatchRecords = 1000
	}
	if c.BatchLinger <= 0 {
		c.BatchLinger = 2 * time.Second
	}
	if c.Parallelism <= 0 {
		c.Parallelism = DefaultParallelism
	}
	if c.SliceRecords <= 0 {
		c.SliceRecords = 2500
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 30 * time.Second
	}
	if c.MaxCommitAttempts <= 0 {
		c.MaxCommitAttempts = 10
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 10 * time.Second
	}
	if c.newTxnClient == nil {
		c.newTxnClient = newKgoClient
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	return errors.Join(errs...)
}

// redaction is the table's configured redaction, nil for the default.
func (c *Config) redaction(table string) *schemas.Redaction {
	if r, ok := c.Redaction[table]; ok {
		return &r
	}
	return nil
}
