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
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

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
	topics = append(topics, p.cfg.lineTopics()...)
	return ensureTopics(ctx, kadm.NewClient(cl), topics, p.cfg.OffsetsTopic, p.cfg.Topics)
}

func (p *Producer) newTableSync(ctx context.Context, t coupa.Table) (*tableSync, error) {
	generated, err := schemas.Published(t.Name, p.cfg.redaction(t.Name))
	if err != nil {
		return nil, err
	}
	topic := p.topic(t)
	key := offsets.Key{Instance: p.cfg.Instance, Table: t.Name}
	log := p.cfg.Logger.With("table", t.Name)
	schema, err := newTopicSchema(ctx, &p.cfg, schemas.Subject(topic), generated, log)
	var lines *lineTopic
	if err == nil && p.cfg.LineTopics && t.LineTopic != "" {
		lines, err = p.newLineTopic(ctx, t)
	}
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
	ts := &tableSync{
		cfg: &p.cfg, table: t, key: key, topic: topic, schema: schema, lines: lines, txn: txn,
		log: log, seen: newSeen(),
	}
	if lines != nil {
		ts.lineWatch = newLineWatch(t)
	}
	return ts, nil
}

// Sync runs one pass of every table concurrently (they share the Coupa
// budget; a full refresh table's pass is a whole refresh), then each
// table's delete sweep to its end if one is due, and
// returns each table's result. A table that fails does not stop
// the others; the errors of all failed tables are joined.
func (p *Producer) Sync(ctx context.Context) ([]PassResult, error) {
	results := make([]PassResult, len(p.tables))
	errs := make([]error, len(p.tables))
	var wg sync.WaitGroup
	for i, ts := range p.tables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = ts.syncPass(ctx)
			if errs[i] == nil && ts.sweepDue(time.Now()) {
				errs[i] = ts.sweepUntil(ctx, time.Time{})
			}
			results[i].Err = errs[i]
			p.cfg.Metrics.pass(ts.table.Name, errs[i])
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// Run syncs every table, then again and again until ctx ends, each table
// on its own schedule (see Poll: soon after a pass that found changes, less
// often while it finds none, within one budget of pass starts). A table
// adopts a `cursors reset` at the start of its next pass (see adoptReset);
// one that fails is retried after poll.Max, except a table that stops
// (fenced: another process owns it; an incompatible schema; another writer
// of its cursor), which stops for good and sets the table_stopped gauge.
// Run returns nil when ctx ends, or an error naming every table and why
// when all of them have stopped: the process then does nothing useful and
// should not look healthy. onPass, if set, sees every pass's result.
func (p *Producer) Run(ctx context.Context, poll Poll, onPass func(PassResult, error)) error {
	if err := poll.defaults(); err != nil {
		return err
	}
	budget := rate.NewLimiter(rate.Limit(poll.Budget), len(p.tables))
	if poll.Budget < 0 {
		budget = rate.NewLimiter(rate.Inf, 0)
	}
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
			stops[i] = p.runTable(ctx, ts, newPacer(poll.forTable(ts.table)), budget, onPass)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("every table has stopped: %w", errors.Join(stops...))
}

// runTable runs ts's passes until ctx ends (nil) or the table stops (why).
func (p *Producer) runTable(ctx context.Context, ts *tableSync, pace *pacer, budget *rate.Limiter, onPass func(PassResult, error)) error {
	for {
		if ts.refreshes() && !ts.refreshDue(time.Now(), pace.poll.Max) {
			if sleep(ctx, time.Until(ts.cursor.Sweep.Completed.Add(pace.poll.Max))) != nil {
				return nil
			}
			continue
		}
		if budget.Wait(ctx) != nil {
			return nil
		}
		res, err := ts.syncPass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		p.cfg.Metrics.pass(ts.table.Name, err)
		var fenced *FencedError
		res.Stopped = errors.As(err, &fenced) || ts.stopped != nil
		res.NextPass = pace.next(res.Published, err)
		if ts.refreshes() {
			res.NextPass = ts.nextRefresh(pace.poll.Max, err)
		}
		p.cfg.Metrics.polled(ts.table.Name, pace.interval, res, err)
		if onPass != nil {
			onPass(res, err)
		}
		if res.Stopped {
			ts.log.Error("stopped", "error", err.Error())
			p.cfg.Metrics.tableStopped(ts.table.Name, true)
			return err
		}
		// A delete sweep that is due works through the pause, on the
		// budget the passes leave idle.
		wake := time.Now().Add(res.NextPass)
		if ts.sweepDue(time.Now()) && ts.sweepUntil(ctx, wake) != nil && ctx.Err() != nil {
			return nil
		}
		if sleep(ctx, time.Until(wake)) != nil {
			return nil
		}
	}
}

// syncPass runs ts's pass: a full refresh table's refresh, any other's
// incremental pass.
func (ts *tableSync) syncPass(ctx context.Context) (PassResult, error) {
	if ts.refreshes() {
		return ts.refresh(ctx)
	}
	return ts.pass(ctx)
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
