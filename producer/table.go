package producer

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// tableSync owns one table: its transactional producer, committed cursor and
// the versions published inside the lookback window. Only its goroutine
// touches it while a pass runs.
type tableSync struct {
	cfg    *Config
	table  coupa.Table
	key    offsets.Key
	topic  string
	schema *topicSchema
	lines  *lineTopic // nil: the table has no lines, or line topics are off
	txn    *txnProducer
	log    *slog.Logger

	cursor offsets.Cursor // committed: never ahead of what Kafka holds
	seen   *seen
	// published is what the table topic holds now (ids and their line
	// ids); nil when neither line topics nor delete sweeps need it.
	published *published
	// sweeping is the delete sweep under way, if any (see sweep).
	sweeping *sweeper
	// lineWatch follows the table's line list resource; nil when it has
	// none or line topics are off.
	lineWatch *lineWatch
	// values are the hashes of the values last published, by id, for
	// tables that need them (see values); nil otherwise.
	values values
	// passBound is the bound of the current (or last) pass: where a new
	// line watch starts (see commit).
	passBound time.Time
	// stopped, when set, is why the table is not synced (an incompatible
	// schema, another writer of its cursor); every pass returns it.
	stopped error
	// stale means a commit in doubt could not be settled: cursor and seen
	// may be behind Kafka, and are reloaded before the next pass.
	stale bool
	// resetRequest is the latest reset request of the table seen in the
	// offsets topic (written by the watcher while passes run); adoptReset
	// adopts it when the cursor has not yet.
	resetRequest atomic.Pointer[offsets.Cursor]
}

// halted says why nothing more may be committed for the table in this pass:
// it stopped, or a commit in doubt left its state stale. Another slice may
// have set either while this one read its batch; committing that batch with
// the old in-memory cursor would overwrite what Kafka now holds. Called with
// the pass lock held.
func (ts *tableSync) halted() error {
	switch {
	case ts.stopped != nil:
		return ts.stopped
	case ts.stale:
		return fmt.Errorf("table %s: a commit in doubt is not settled; nothing more is committed until its state is reloaded from Kafka", ts.table.Name)
	}
	return nil
}

// ready prepares ts for a pass: it fails when the table stopped, reloads
// state a commit in doubt left stale, and adopts a pending cursor reset.
func (ts *tableSync) ready(ctx context.Context) error {
	if ts.stopped != nil {
		return ts.stopped
	}
	if ts.stale {
		if err := ts.reload(ctx); err != nil {
			return err
		}
	}
	return ts.adoptReset(ctx)
}

// PassResult summarises one pass over one table.
type PassResult struct {
	Table     string
	Topic     string
	Published int
	Requests  int
	Cursor    offsets.Cursor
	// InstanceTime is the bound of the pass: the instance's clock when the
	// pass began, minus one second.
	InstanceTime time.Time
	// Err is why the pass did not bring the table up to date (Sync sets
	// it; nil when it did).
	Err error
	// Stopped says the table stopped for good after this pass (Run sets
	// it): fenced, incompatible schema, another writer of its cursor.
	Stopped bool
	// NextPass is the pause before the table's next pass (Run sets it;
	// see Poll).
	NextPass time.Duration
}

// startPosition is where a pass begins: a full refresh resumes exactly at
// its cursor; an incremental pass starts Lookback before the cursor, so that
// versions which became visible late are found (versions already published
// are recognised by ts.seen and skipped).
func (ts *tableSync) startPosition() position {
	c := ts.cursor
	switch {
	case c.Mode == offsets.FullRefresh:
		return position{at: c.UpdatedAt, id: c.ID}
	case c.IsZero():
		return position{}
	default:
		return position{at: c.UpdatedAt.Add(-ts.cfg.Lookback)}
	}
}

func newRetryBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 30 * time.Second
	return b
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// progress logs a line every so often during long passes (backfills).
type progress struct {
	log   *slog.Logger
	every time.Duration
	start time.Time
	last  time.Time
}

func newProgress(log *slog.Logger, every time.Duration) *progress {
	now := time.Now()
	return &progress{log: log, every: every, start: now, last: now}
}

func (p *progress) update(published int, c offsets.Cursor) {
	if p.every <= 0 || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	rate := float64(published) / time.Since(p.start).Seconds()
	p.log.Info("progress", "published", published, "records_per_second", int(rate), "position", c.String())
}
