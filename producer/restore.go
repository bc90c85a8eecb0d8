package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/internal/kread"

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
	ts.published, ts.sweeping = nil, nil
	ts.values = nil
	if ts.needsValues() {
		ts.values = values{}
	}
	if ts.lines != nil || ts.cfg.DeleteSweep.Interval > 0 {
		ts.published = newPublished()
	}
	noLineIDs, err := ts.readTopic(ctx, from)
	if err != nil {
		return fmt.Errorf("table %s: restoring what its topic holds: %w", ts.table.Name, err)
	}
	attrs := []any{"cursor", ts.cursor.String(), "mode", ts.cursor.Mode, "recent_versions", ts.seen.len()}
	if ts.published != nil {
		attrs = append(attrs, "records", ts.published.len())
	}
	ts.log.Info("restored", attrs...)
	if noLineIDs > 0 {
		ts.log.Warn("records without line ids: lines that their next versions drop get no tombstone",
			"records", noLineIDs, "header", HeaderLineIDs)
	}
	ts.cfg.Metrics.sweepCompleted(ts.table.Name, ts.cursor.Sweep.Completed)
	return nil
}

// readTopic rebuilds seen (the versions stamped at or after from; all when
// from is zero) and, when the table keeps it, published from the table
// topic, read with read_committed. Keys are Coupa ids as decimal text and
// timestamps are updated_at, so no value is decoded, only hashed by its
// content (schemas.Table.ContentHash, walking it with the schema version
// its header names: a version learned since hashes the same JSON alike). Without
// published or values only the lookback window is read; with either, the
// whole topic (a record published years ago can still be deleted, or
// changed under a full refresh). It returns how many
// records of a table with a line topic lacked HeaderLineIDs.
func (ts *tableSync) readTopic(ctx context.Context, from time.Time) (noLineIDs int, err error) {
	start := kread.FromStart()
	if !from.IsZero() {
		ts.seen.forgetBefore(from)
		if ts.published == nil && ts.values == nil {
			start = kread.FromTimestamp(from.UnixMilli())
		}
	}
	deleted := map[int64]bool{} // ids whose last record read is a tombstone
	err = kread.Committed(ctx, ts.topic, start, func(r *kgo.Record) error {
		id, err := strconv.ParseInt(string(r.Key), 10, 64)
		if err != nil {
			return fmt.Errorf("%s partition %d offset %d: key %q is not a Coupa id", ts.topic, r.Partition, r.Offset, r.Key)
		}
		if r.Value == nil { // a tombstone: the record was deleted
			deleted[id] = true
			delete(ts.values, id)
			if ts.published != nil {
				ts.published.remove(id)
			}
			return nil
		}
		delete(deleted, id)
		hash, err := ts.schema.valueHash(ctx, r.Value)
		if err != nil {
			return fmt.Errorf("%s partition %d offset %d: %w", ts.topic, r.Partition, r.Offset, err)
		}
		if ts.values != nil {
			ts.values[id] = hash
		}
		if !ts.refreshes() {
			ts.seen.add(id, r.Timestamp, hash)
		}
		if ts.published == nil {
			return nil
		}
		var lines []int64
		if ts.lines != nil {
			v, ok := header(r, HeaderLineIDs)
			if !ok {
				noLineIDs++
			} else if lines, err = parseLineIDs(v); err != nil {
				return fmt.Errorf("%s partition %d offset %d: %w", ts.topic, r.Partition, r.Offset, err)
			}
		}
		ts.published.set(id, lines)
		return nil
	}, ts.cfg.Kafka...)
	// As after the sweep that wrote them: a version before a tombstone is
	// not taken for published, should the record ever be listed again.
	ts.seen.forget(deleted)
	return noLineIDs, err
}

// header returns the value of r's header key.
func header(r *kgo.Record, key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
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
