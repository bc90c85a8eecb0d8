package producer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// convertPage converts a page of records to their Kafka values. When
// records have values the current schema versions cannot type yet, the
// table's schema (and its line topic's) learns from them, registers one
// new version, and the page is converted again: nothing waits untyped in
// custom_fields or extra that has a typed home (see topicSchema). The
// error is a registry that cannot be reached while the schema evolves;
// the caller reads the page again later, skipping it would lose it.
func (ts *tableSync) convertPage(ctx context.Context, recs []coupa.Record) ([]pending, error) {
	out, waiting, err := ts.convertAll(recs)
	if err != nil || len(waiting) == 0 || !ts.learns() {
		return out, err
	}
	// Convert again even when this page taught nothing new: another
	// worker may have registered the version it needs meanwhile.
	if err := ts.learn(ctx, recs, waiting); err != nil {
		return nil, fmt.Errorf("table %s: %w", ts.table.Name, err)
	}
	out, _, err = ts.convertAll(recs)
	return out, err
}

// learns says whether the table's schema, or its line topic's, may learn.
func (ts *tableSync) learns() bool {
	return ts.schema.learns() || ts.lines != nil && ts.lines.schema.learns()
}

// convertAll converts recs with the current schema versions and returns
// the indexes of those with untyped values.
func (ts *tableSync) convertAll(recs []coupa.Record) (out []pending, waiting []int, err error) {
	out = make([]pending, 0, len(recs))
	for i, r := range recs {
		p, err := ts.convert(r)
		if err != nil {
			return nil, nil, err
		}
		if p.waiting() {
			waiting = append(waiting, i)
		}
		out = append(out, p)
	}
	return out, waiting, nil
}

// convert turns a Coupa record into its Kafka value.
func (ts *tableSync) convert(r coupa.Record) (pending, error) {
	e, err := ts.schema.convert(r.Raw)
	var hash uint64
	if err == nil {
		hash, err = e.contentHash()
	}
	if err != nil {
		// The client only hands over objects with an id and a valid
		// updated-at, which the converter always accepts: this is a bug, and
		// skipping the record would lose it.
		return pending{}, fmt.Errorf("table %s: converting record %d: %w", ts.table.Name, r.ID, err)
	}
	p := pending{id: r.ID, updatedAt: r.UpdatedAt, value: e.value, stats: e.stats, hash: hash}
	if ts.lines != nil {
		if p.lines, err = ts.lines.convert(ts.table.Name, r); err != nil {
			return pending{}, err
		}
	}
	return p, nil
}

// waiting says whether p or one of its lines has values a schema that
// learned from them would type.
func (p *pending) waiting() bool {
	if p.stats.Untyped > 0 {
		return true
	}
	for _, l := range p.lines {
		if l.stats.Untyped > 0 {
			return true
		}
	}
	return false
}

// learn has the table's schema learn from the records of recs at waiting,
// and its line topic's from their lines.
func (ts *tableSync) learn(ctx context.Context, recs []coupa.Record, waiting []int) error {
	var raws, lines [][]byte
	for _, i := range waiting {
		raws = append(raws, recs[i].Raw)
		if ts.lines == nil {
			continue
		}
		ls, err := schemas.SplitLines(ts.lines.spec, recs[i].Raw, recs[i].ID, recs[i].UpdatedAt)
		if err != nil {
			return err
		}
		for _, l := range ls {
			lines = append(lines, l.JSON)
		}
	}
	if err := ts.schema.learn(ctx, raws); err != nil || ts.lines == nil {
		return err
	}
	return ts.lines.schema.learn(ctx, lines)
}

// versionFacts gathers what publishRule weighs about p. fetched maps the ids
// published in this pass to when the published version was read.
func (ts *tableSync) versionFacts(p pending, fetched map[int64]int64) versionFacts {
	return versionFacts{
		mode:       ts.cursor.Mode,
		covered:    ts.cursor.Covers(p.updatedAt, p.id),
		published:  ts.seen.has(p.id, p.updatedAt, p.hash),
		readBefore: p.fetched < fetched[p.id],
	}
}

// publish commits recs with the cursor next in one transaction and returns
// the cursor as written. A commit whose answer was lost is settled before
// publish returns (see settle): nil means the batch is committed, an error
// that it is not (or that the table must stop).
func (ts *tableSync) publish(ctx context.Context, recs []pending, next offsets.Cursor) (offsets.Cursor, error) {
	next.Published = ts.cursor.Published + int64(len(recs))
	out := make([]*kgo.Record, 0, len(recs)+1)
	var stats, lineStats schemas.Stats
	lines, dropped := 0, 0
	instance, table, lineTable := []byte(ts.key.Instance), []byte(ts.table.Name), []byte(ts.table.LineTopic)
	var before map[int64][]int64 // line ids of the parents' previous versions, as this batch moves them
	if ts.lines != nil {
		before = map[int64][]int64{}
	}
	for _, r := range recs {
		stats = stats.Add(r.stats)
		headers := sourceHeaders(instance, table, r.updatedAt)
		if ts.lines != nil {
			headers = append(headers, kgo.RecordHeader{Key: HeaderLineIDs, Value: formatLineIDs(r.lines)})
		}
		if !r.linesChanged.IsZero() {
			headers = append(headers, kgo.RecordHeader{Key: HeaderLinesChangedAt, Value: r.linesChanged.UTC().AppendFormat(nil, time.RFC3339)})
		}
		out = append(out, &kgo.Record{
			Topic:     ts.topic,
			Key:       strconv.AppendInt(nil, r.id, 10),
			Value:     r.value,
			Timestamp: r.updatedAt,
			Headers:   headers,
		})
		if ts.lines != nil {
			var gone int
			out, gone = ts.lineRecords(out, r, before, sourceHeaders(instance, lineTable, r.updatedAt))
			lines += len(r.lines)
			dropped += gone
			for _, l := range r.lines {
				lineStats = lineStats.Add(l.stats)
			}
		}
	}
	next, err := ts.commit(ctx, out, next)
	if err != nil {
		return offsets.Cursor{}, err
	}
	ts.cfg.Metrics.committed(ts.table.Name, len(recs), stats)
	if ts.lines != nil {
		ts.cfg.Metrics.linesCommitted(ts.table.LineTopic, lines, lineStats)
		ts.cfg.Metrics.tombstoned(ts.table.LineTopic, dropped)
	}
	return next, nil
}

// lineRecords appends the records of r's lines and the tombstones of the
// lines its previous version had and r has not. before holds the line ids
// of the parents this batch has published so far (the index holds what was
// committed before it); lineRecords records r's there. It returns how many
// lines were dropped.
func (ts *tableSync) lineRecords(out []*kgo.Record, r pending, before map[int64][]int64, headers []kgo.RecordHeader) ([]*kgo.Record, int) {
	out = ts.lines.records(out, r, headers)
	prev, ok := before[r.id]
	if !ok {
		prev = ts.published.lines(r.id)
	}
	gone := droppedLines(prev, r.lines)
	before[r.id] = lineIDs(r.lines)
	return ts.lines.tombstones(out, gone, r.updatedAt, headers), len(gone)
}

// commit commits out with the cursor next in one transaction and returns
// the cursor as written (stamped with its sequence number and commit
// clock). A commit whose answer was lost is settled before it returns (see
// settle): nil means the transaction is committed, an error that it is not
// (or that the table must stop).
func (ts *tableSync) commit(ctx context.Context, out []*kgo.Record, next offsets.Cursor) (offsets.Cursor, error) {
	next.CommittedAt = time.Now().UTC()
	next.Seq = ts.cursor.Seq + 1
	if ts.cfg.DeleteSweep.Interval > 0 && next.Sweep == (offsets.Sweep{}) {
		// The table's first commit with sweeps on starts their schedule:
		// what it publishes is what the instance has, so the first sweep
		// is due an interval later.
		next.Sweep.Completed = next.CommittedAt
	}
	if ts.lineWatch != nil && next.Lines.IsZero() && !ts.passBound.IsZero() {
		// The line watch starts where the table's first pass (of a build
		// that watches lines) began: that pass reads every parent with its
		// lines as they are from then on.
		next.Lines = offsets.Position{UpdatedAt: ts.passBound}
	}
	cur, err := offsets.Record(ts.cfg.OffsetsTopic, ts.key, next)
	if err != nil {
		return offsets.Cursor{}, err
	}
	out = append(out, cur)
	if err := ts.transact(ctx, out); err != nil {
		var doubt *InDoubtError
		if !errors.As(err, &doubt) {
			return offsets.Cursor{}, err
		}
		if err := ts.settle(ctx, next, doubt); err != nil {
			return offsets.Cursor{}, err
		}
	}
	return next, nil
}

// transact runs one transaction of out. A commit may finish after ctx ends
// (graceful shutdown), but not hang: CommitTimeout bounds it.
func (ts *tableSync) transact(ctx context.Context, out []*kgo.Record) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ts.cfg.CommitTimeout)
	defer cancel()
	if ts.txn.cl == nil {
		if err := ts.txn.connect(cctx); err != nil {
			return err
		}
	}
	return ts.txn.commit(cctx, out)
}

// committed moves the in-memory state after a successful commit of recs
// that wrote the cursor written.
func (ts *tableSync) committed(recs []pending, written offsets.Cursor) {
	ts.cursor = written
	for _, r := range recs {
		if !ts.refreshes() { // a full refresh looks at values, not versions
			ts.seen.add(r.id, r.updatedAt, r.hash)
		}
		if ts.published != nil {
			ts.published.set(r.id, lineIDs(r.lines))
		}
	}
	ts.values.committed(recs)
	if !written.UpdatedAt.IsZero() {
		ts.seen.forgetBefore(written.UpdatedAt.Add(-ts.cfg.Lookback))
	}
	ts.cfg.Metrics.cursor(ts.table.Name, written.UpdatedAt)
}

// Record headers on every table and line record, so that consumers of topics
// that several sources share (several instances, or a topic prefix shared by
// many tables) can tell where a record comes from without decoding it.
const (
	HeaderInstance  = "coupa.instance"   // the Coupa instance's host
	HeaderTable     = "coupa.table"      // "invoices", "invoice_lines", ...
	HeaderUpdatedAt = "coupa.updated_at" // the source updated_at (RFC 3339, UTC); a line's is its parent's
)

// sourceHeaders are the headers of one record; instance and table are
// shared by every record of a batch (franz-go never writes to them).
func sourceHeaders(instance, table []byte, updatedAt time.Time) []kgo.RecordHeader {
	return append(tableHeaders(instance, table),
		kgo.RecordHeader{Key: HeaderUpdatedAt, Value: updatedAt.UTC().AppendFormat(nil, time.RFC3339)})
}

// tableHeaders are the headers of a tombstone of a deleted record (which
// has no updated_at), and the start of every other record's.
func tableHeaders(instance, table []byte) []kgo.RecordHeader {
	return append(make([]kgo.RecordHeader, 0, 4),
		kgo.RecordHeader{Key: HeaderInstance, Value: instance},
		kgo.RecordHeader{Key: HeaderTable, Value: table})
}
