// Package producer syncs Coupa tables into Kafka: one poller per table walks
// the table's changes in (updated_at, id) order and publishes them, with the
// table's cursor, in Kafka transactions. See walk for why no record is
// skipped, tableSync.pass for why none is lost or published twice, and
// ensureTopics for the topic rules.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// Registrar registers a table's value schema under a subject and returns
// its id (schemas.Registry does, checking compatibility first).
type Registrar interface {
	Register(ctx context.Context, subject string, t *schemas.Table) (int, error)
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
	// Lookback is the recent window every incremental pass re-reads for
	// late-visible writes. Zero means none, which misses any write that
	// becomes visible after a pass went past its updated_at: set
	// DefaultLookback unless you know better (the CLI does).
	Lookback time.Duration
	// BatchRecords and BatchLinger bound one transaction. Defaults 1000
	// records and 2 s.
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

// Producer syncs the configured tables of one Coupa instance.
type Producer struct {
	cfg    Config
	tables []*tableSync
}

// New prepares every table: checks and creates topics, registers schemas,
// fences older producers of the same tables, then restores the cursors and
// the recently published versions from Kafka (in that order: after fencing,
// nothing can still be committed behind the restored state).
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := &Producer{cfg: cfg}
	if err := p.prepareTopics(ctx); err != nil {
		return nil, err
	}
	for _, t := range cfg.Tables {
		ts, err := p.newTableSync(ctx, t)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.tables = append(p.tables, ts)
	}
	if err := p.restore(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Producer) topic(t coupa.Table) string { return p.cfg.TopicPrefix + t.Name }

func (p *Producer) prepareTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(p.cfg.Kafka...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	var topics []string
	for _, t := range p.cfg.Tables {
		topics = append(topics, p.topic(t))
	}
	return ensureTopics(ctx, kadm.NewClient(cl), topics, p.cfg.OffsetsTopic, p.cfg.Topics)
}

func (p *Producer) newTableSync(ctx context.Context, t coupa.Table) (*tableSync, error) {
	schema, err := schemas.Published(t.Name, p.cfg.redaction(t.Name))
	if err != nil {
		return nil, err
	}
	topic := p.topic(t)
	key := offsets.Key{Instance: p.cfg.Instance, Table: t.Name}
	id, err := p.cfg.Registry.Register(ctx, topic+"-value", schema)
	var incompatible *schemas.IncompatibleError
	if errors.As(err, &incompatible) {
		// Publishing would break consumers of this topic; the other tables
		// are unaffected and carry on.
		return &tableSync{cfg: &p.cfg, table: t, key: key, topic: topic, log: p.cfg.Logger.With("table", t.Name),
			stopped: fmt.Errorf("table %s stopped: its schema cannot be registered: %w", t.Name, err)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("table %s: registering its schema: %w", t.Name, err)
	}
	kopts := p.cfg.Kafka
	if p.cfg.ProducerOpts != nil {
		kopts = append(append([]kgo.Opt(nil), kopts...), p.cfg.ProducerOpts(t.Name)...)
	}
	txn, err := newTxnProducer(ctx, t.Name, key.TransactionalID(), kopts, p.cfg.newTxnClient)
	if err != nil {
		return nil, err
	}
	return &tableSync{
		cfg: &p.cfg, table: t, key: key, topic: topic, schema: schema, schemaID: id, txn: txn,
		log: p.cfg.Logger.With("table", t.Name), seen: newSeen(),
	}, nil
}

// Sync runs one pass of every table concurrently (they share the Coupa
// budget) and returns each table's result. A table that fails does not stop
// the others; the errors of all failed tables are joined.
func (p *Producer) Sync(ctx context.Context) ([]PassResult, error) {
	results := make([]PassResult, len(p.tables))
	errs := make([]error, len(p.tables))
	var wg sync.WaitGroup
	for i, ts := range p.tables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = ts.pass(ctx)
			results[i].Err = errs[i]
			p.cfg.Metrics.pass(ts.table.Name, errs[i])
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// Run syncs every table, then again every interval, until ctx ends. Each
// table runs on its own schedule and adopts a `cursors reset` at the start
// of its next pass (see adoptReset); one that fails is retried at its next
// interval, except a table that stops (fenced: another process owns it; an
// incompatible schema; another writer of its cursor), which stops for good
// and sets the table_stopped gauge. Run returns nil when ctx ends, or an
// error naming every table and why when all of them have stopped: the
// process then does nothing useful and should not look healthy.
func (p *Producer) Run(ctx context.Context, interval time.Duration, onPass func(PassResult, error)) error {
	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		p.watchResets(watchCtx)
	}()
	defer func() { stopWatching(); <-watched }()
	var wg sync.WaitGroup
	stops := make([]error, len(p.tables))
	for i, ts := range p.tables {
		p.cfg.Metrics.tableStopped(ts.table.Name, false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := ts.pass(ctx)
				if ctx.Err() != nil {
					return
				}
				p.cfg.Metrics.pass(ts.table.Name, err)
				var fenced *FencedError
				res.Stopped = errors.As(err, &fenced) || ts.stopped != nil
				if onPass != nil {
					onPass(res, err)
				}
				if res.Stopped {
					ts.log.Error("stopped", "error", err.Error())
					p.cfg.Metrics.tableStopped(ts.table.Name, true)
					stops[i] = err
					return
				}
				if sleep(ctx, interval) != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("every table has stopped: %w", errors.Join(stops...))
}

// Cursors returns every table's committed cursor.
func (p *Producer) Cursors() map[string]offsets.Cursor {
	out := map[string]offsets.Cursor{}
	for _, ts := range p.tables {
		out[ts.table.Name] = ts.cursor
	}
	return out
}

// Close releases the Kafka clients. Call it after Sync or Run returned.
func (p *Producer) Close() {
	for _, ts := range p.tables {
		if ts.txn != nil {
			ts.txn.close()
		}
	}
}
