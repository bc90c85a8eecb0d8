package coupatest

import (
	"fmt"
	"time"
)

// Lines that change on their own. Receiving goods against a purchase order
// line moves the line's received quantity and its own updated-at while the
// order's updated-at stays: a sync that only watches the parents misses it.
// R39 lists such lines in resources of their own (coupa.Table.LineList:
// /api/purchase_order_lines, /api/expense_lines). The simulator keeps one
// line version and one change time per record (state.lineVersion, lineAt)
// and derives every line from them, as it derives records from theirs.

// lineCtx is the context of line k (1-based) of record c. Its id is the
// record's*100+k; its volatile values follow the record's version and the
// lines' own (a later update of the record keeps the line changes), and its
// updated-at is the later of the record's and the lines' last change.
func lineCtx(c *rctx, k int) rctx {
	return rctx{id: c.id*100 + int64(k), version: c.version, created: c.created,
		updated: linesUpdated(c.updated, c.lineAt), parent: c.id, lineNum: k, lineVersion: c.lineVersion}
}

// linesUpdated is the updated-at of a record's lines: a line shows its own
// change (lineAt) until the record is written again.
func linesUpdated(updated, lineAt int64) int64 { return max(updated, lineAt) }

// lineState is line k of record st as a state of its line list: what the
// list machinery (scans, filters, pager) works on.
func lineState(st state, k int) state {
	st.id = st.id*100 + int64(k)
	st.updated = linesUpdated(st.updated, st.lineAt)
	return st
}

// newLineList is the line list resource of parent (nil when R39 has none).
func newLineList(parent *table) *table {
	meta, ok := parent.meta.LineListTable()
	if !ok || parent.plan.lines == nil {
		return nil
	}
	lp := parent.plan.lines.lines
	meta.Definition, meta.AvroName = lp.def, lp.def
	return &table{meta: meta, plan: lp, lineOf: parent}
}

// ChangeLines changes every line of record id on its own, stamped with the
// instance's now: each line renders new content (its volatile values, e.g.
// its quantity, follow a new line version) and updated-at = now, in its
// record's JSON and in the line list alike, while the record's own
// updated-at, version and other fields stay. It returns the lines' new
// updated-at. Lines a version dropped stay dropped; line ids stay. Only
// tables with a line list resource (purchase_orders, expense_reports) have
// such lines: other tables, and unknown or deleted ids, are an error.
func (s *Server) ChangeLines(table string, id int64) (time.Time, error) {
	t := s.table(table)
	if t.meta.LineList == "" {
		return time.Time{}, fmt.Errorf("coupatest: %s has no line list resource", table)
	}
	at := s.Now().Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	i, err := t.liveIndex(id)
	if err != nil {
		return time.Time{}, err
	}
	t.recs[i].lineVersion++
	t.recs[i].lineAt = at
	return time.Unix(at, 0).UTC(), nil
}

// lineTable expands the live records of lt's parent into their lines'
// states for one request, as a table the list machinery (selectStates)
// queries like any other: recs in id order (line ids ascend with their
// record's), and an (updated, id) index when q orders by updated_at.
//
// Cost: two passes over the parent's records under its read lock (count,
// then expand) and, for updated_at order, a sort of the matching lines:
// two to three milliseconds and two megabytes per request for 10,000
// purchase orders (BenchmarkLineListPage). Nothing is kept between
// requests, so no line is ever stored.
func (s *Server) lineTable(lt *table, q *listQuery) *table {
	out := &table{meta: lt.meta, plan: lt.plan, lineOf: lt.lineOf}
	out.recs, out.createdSorted = s.expandLines(lt.lineOf, q)
	if q.order == orderUpdated {
		out.idx = make([]ikey, len(out.recs))
		for i, st := range out.recs {
			out.idx[i] = ikey{st.updated, st.id}
		}
		sortKeys(out.idx)
	}
	return out
}

// expandLines returns the states of the lines of p's live records within
// q's id and updated_at bounds, in id order, and whether their created_at
// ascends with id. All lines of a record share one updated_at, so a record
// outside the bounds costs a comparison and is not expanded.
func (s *Server) expandLines(p *table, q *listQuery) ([]state, bool) {
	lines := func(st state) int {
		at := linesUpdated(st.updated, st.lineAt)
		if st.deleted || at < q.updLo || at > q.updHi {
			return 0
		}
		return s.render.lineCount(p.plan, st.id, st.version)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	total := 0
	for _, st := range p.recs { // counting first saves growing a big slice
		total += lines(st)
	}
	out := make([]state, 0, total)
	for _, st := range p.recs {
		n := lines(st)
		for k := 1; k <= n; k++ {
			if ln := lineState(st, k); ln.id >= q.idLo && ln.id <= q.idHi {
				out = append(out, ln)
			}
		}
	}
	return out, p.createdSorted
}

// line renders line id of the line list lt as its record embeds it, or
// reports that the record is gone or never had such a line.
func (s *Server) line(lt *table, id int64) ([]byte, bool) {
	p := lt.lineOf
	p.mu.RLock()
	i := p.find(id / 100)
	ok := i >= 0 && !p.recs[i].deleted
	var st state
	if ok {
		st = p.recs[i]
	}
	p.mu.RUnlock()
	k := int(id % 100)
	if !ok || k < 1 || k > s.render.lineCount(p.plan, st.id, st.version) {
		return nil, false
	}
	c := lt.ctx(lineState(st, k))
	return s.render.record(nil, lt.plan, &c, nil, modeFull), true
}
