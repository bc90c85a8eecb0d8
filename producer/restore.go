package producer

import (
	"context"
	"fmt"
	"time"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

func (p *Producer) restore(ctx context.Context) error {
	// Settled: a transaction of another table (or another instance) can
	// hold the last stable offset back behind a table's newest cursor.
	cursors, err := offsets.LoadSettled(ctx, p.cfg.OffsetsTopic, p.cfg.Kafka...)
	if err != nil {
		return fmt.Errorf("restoring cursors: %w", err)
	}
	for _, ts := range p.tables {
		if ts.stopped != nil {
			ts.log.Error("stopped", "error", ts.stopped.Error())
			continue
		}
		if err := ts.restore(ctx, cursors[ts.key]); err != nil {
			return err
		}
		ts.noteReset(cursors)
	}
	return nil
}

// noteReset remembers the table's reset request found in cursors, if any,
// for adoptReset.
func (ts *tableSync) noteReset(cursors map[offsets.Key]offsets.Cursor) {
	if r, ok := cursors[ts.key.ResetRequest()]; ok {
		ts.resetRequest.Store(&r)
	}
}

// restore sets the table's state from what Kafka holds: its committed cursor
// and every version published from the lookback window on, also beyond the
// cursor (parallel slices commit ahead of it). A zero cursor with a
// populated topic (a crash early in a first backfill) reads it all. The
// producer must own the transactional id already, so nothing can still be
// committed behind what this reads.
func (ts *tableSync) restore(ctx context.Context, cursor offsets.Cursor) error {
	ts.cursor = cursor
	if ts.cursor.Mode == "" {
		ts.cursor.Mode = offsets.Incremental
	}
	ts.cfg.Metrics.cursor(ts.table.Name, ts.cursor.UpdatedAt)
	var from time.Time
	if !ts.cursor.IsZero() {
		from = ts.cursor.UpdatedAt.Add(-ts.cfg.Lookback)
	}
	ts.seen = newSeen()
	if err := ts.seen.restore(ctx, ts.topic, from, ts.cfg.Kafka); err != nil {
		return fmt.Errorf("table %s: restoring recently published versions: %w", ts.table.Name, err)
	}
	ts.log.Info("restored", "cursor", ts.cursor.String(), "mode", ts.cursor.Mode, "recent_versions", ts.seen.len())
	return nil
}

// reload re-initialises the producer (ending whatever transaction it left)
// and restores the table's state from Kafka, as a restart would: after a
// commit in doubt that could not be settled.
func (ts *tableSync) reload(ctx context.Context) error {
	if err := ts.txn.reset(ctx); err != nil {
		return err
	}
	cursors, err := offsets.LoadSettled(ctx, ts.cfg.OffsetsTopic, ts.cfg.Kafka...)
	if err != nil {
		return fmt.Errorf("table %s: reloading its cursor: %w", ts.table.Name, err)
	}
	if err := ts.restore(ctx, cursors[ts.key]); err != nil {
		return err
	}
	ts.noteReset(cursors)
	ts.stale = false
	return nil
}
