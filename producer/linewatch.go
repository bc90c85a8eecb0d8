package producer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// Lines that change on their own. A purchase order line is received
// against, an expense line is itemised: the line's own updated-at moves, the
// parent's does not, and a poll of the parents by updated_at never sees it.
// R39 lists such lines on their own (coupa.Table.LineList), so after each
// pass the table's line watch walks that list by (updated_at, id) from its
// own position (offsets.Cursor.Lines, minus the lookback window), and
// republishes the parents of the lines it finds. A parent carries its lines,
// so its new version publishes them, in one transaction as always: the line
// topic keeps one writer and a consumer never sees a line without the
// parent version that holds it. A parent whose value is unchanged (its line
// change was published already, or the line changed with its parent) is not
// published again.
//
// A parent found this way usually has an updated_at older than the lookback
// window, where seen does not look, and may have been published with its
// changed lines already (by a pass that read it after the change, or by the
// watch before a restart). So the table remembers the value last published
// for every id (tableSync.values; rebuilt by restore from the whole
// topic), and the watch publishes a parent only when its value differs.
type lineWatch struct {
	list   coupa.Table // the line list resource (coupa.Table.LineListTable)
	parent string      // key of the parent's id in a listed line
	fields string      // what a listing asks for: ids, updated-at, parent id
}

// HeaderLinesChangedAt is on a parent version published because its lines
// changed on their own (RFC 3339, UTC): when the newest of them did.
const HeaderLinesChangedAt = "coupa.lines_changed_at"

func newLineWatch(t coupa.Table) *lineWatch {
	list, ok := t.LineListTable()
	if !ok {
		return nil
	}
	return &lineWatch{list: list, parent: t.LineListParent,
		fields: fmt.Sprintf(`["id","updated-at",%q]`, t.LineListParent)}
}

// watchLines walks the line list up to bound (the pass's) and publishes the
// parents of the lines that changed. It returns the parents published and
// the requests made.
func (ts *tableSync) watchLines(ctx context.Context, bound time.Time) (published, requests int, err error) {
	lw := ts.lineWatch
	if lw == nil {
		return 0, 0, nil
	}
	if ts.cursor.Lines.IsZero() {
		// A table whose passes have committed nothing since the upgrade
		// (see commit): the watch starts where this pass did.
		next := ts.cursor
		next.Lines = offsets.Position{UpdatedAt: bound}
		written, err := ts.publish(ctx, nil, next)
		if err != nil {
			return 0, 0, err
		}
		ts.committed(nil, written)
		return 0, 0, nil
	}
	w := &walk{list: ts.cfg.Coupa, table: lw.list, bound: bound, fields: lw.fields,
		pos: position{at: ts.cursor.Lines.UpdatedAt.Add(-ts.cfg.Lookback)}}
	defer func() { requests += w.requests }()
	for !w.done {
		if err := ts.halted(); err != nil {
			return published, requests, err
		}
		lines, err := w.next(ctx)
		if err != nil {
			return published, requests, fmt.Errorf("table %s: listing %s: %w", ts.table.Name, lw.list.Path, err)
		}
		changed, err := lw.parents(lines)
		if err != nil {
			return published, requests, fmt.Errorf("table %s: %w", ts.table.Name, err)
		}
		recs, n, err := ts.fetchParents(ctx, changed)
		requests += n
		if err != nil {
			return published, requests, err
		}
		// The walk starts a lookback window behind the position: the
		// position only ever moves forward.
		next := ts.cursor
		if pos := (offsets.Position{UpdatedAt: w.pos.at, ID: w.pos.id}); pos.After(next.Lines) {
			next.Lines = pos
		}
		if len(recs) == 0 && !next.Lines.After(ts.cursor.Lines) {
			continue // a re-read of the lookback window that found nothing new
		}
		written, err := ts.publish(ctx, recs, next)
		if err != nil {
			return published, requests, err
		}
		ts.committed(recs, written)
		published += len(recs)
	}
	return published, requests, nil
}

// parents returns the parent of each line, with the newest change of its
// lines among them. A line without its parent's id is an error: what
// changed could not be published.
func (lw *lineWatch) parents(lines []coupa.Record) (map[int64]time.Time, error) {
	out := map[int64]time.Time{}
	for _, l := range lines {
		id, ok := coupa.IntField(l.Raw, lw.parent)
		if !ok {
			return nil, fmt.Errorf("%s line %d has no %s: its parent is unknown", lw.list.Path, l.ID, lw.parent)
		}
		if l.UpdatedAt.After(out[id]) {
			out[id] = l.UpdatedAt
		}
	}
	return out, nil
}

// fetchParents reads the parents in changed (50 per request, by id) and
// returns the versions to publish: those whose value is not published yet.
// A parent the instance no longer lists is skipped (the delete sweep deals
// with it).
func (ts *tableSync) fetchParents(ctx context.Context, changed map[int64]time.Time) ([]pending, int, error) {
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	var out []pending
	requests := 0
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), coupa.MaxLimit)]
		ids = ids[len(chunk):]
		q := coupa.Query{Filters: []coupa.Filter{{Attr: "id", Op: coupa.In, Value: strings.Join(chunk, ",")}}, OrderBy: "id"}
		page, err := ts.cfg.Coupa.List(ctx, ts.table, q)
		requests++
		if err != nil {
			return nil, requests, fmt.Errorf("table %s: reading the parents of changed lines: %w", ts.table.Name, err)
		}
		for _, r := range page.Records {
			if _, ok := changed[r.ID]; !ok {
				return nil, requests, fmt.Errorf("table %s: asked for records %s, got record %d", ts.table.Name, strings.Join(chunk, ","), r.ID)
			}
		}
		ps, err := ts.convertPage(ctx, page.Records)
		if err != nil {
			return nil, requests, err
		}
		for _, p := range ps {
			at := changed[p.id]
			if ts.seen.has(p.id, p.updatedAt, p.hash) || ts.values.has(p.id, p.hash) {
				continue
			}
			p.linesChanged = at
			out = append(out, p)
		}
	}
	return out, requests, nil
}
