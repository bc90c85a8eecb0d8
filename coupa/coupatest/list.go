package coupatest

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

type orderKind uint8

const (
	orderDefault orderKind = iota
	orderID
	orderCreated
	orderUpdated
	orderAttr
)

type listQuery struct {
	filters []*filter
	order   orderKind
	orderF  *field
	desc    bool
	limit   int
	offset  int
	sel     *selector
	mode    retMode
	updLo   int64
	updHi   int64
	idLo    int64
	idHi    int64
	crLo    int64
	crHi    int64
}

// reserved are the list parameters that are not filters.
var reserved = map[string]bool{"limit": true, "offset": true, "order_by": true, "dir": true, "fields": true, "return_object": true}

func parseList(p *plan, raw string) (*listQuery, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &badQuery{"base", "malformed query string"}
	}
	q := &listQuery{limit: coupa.MaxLimit,
		updLo: math.MinInt64, updHi: math.MaxInt64, idLo: math.MinInt64, idHi: math.MaxInt64,
		crLo: math.MinInt64, crHi: math.MaxInt64}
	if v := vals.Get("limit"); v != "" {
		// Coupa caps the page at 50 whatever the client asks for.
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < coupa.MaxLimit {
			q.limit = n
		}
	}
	if v := vals.Get("offset"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			q.offset = n
		}
	}
	// created_at and updated_at exist only where the definition has them
	// (currencies have neither): elsewhere they are unknown attributes.
	switch ob := hyphenate(vals.Get("order_by")); {
	case ob == "":
	case ob == "id":
		q.order = orderID
	case ob == "created-at" && p.byKey[ob] != nil:
		q.order = orderCreated
	case ob == "updated-at" && p.byKey[ob] != nil:
		q.order = orderUpdated
	default:
		f, ok := p.byKey[ob]
		if !ok || f.obj != nil || f.lines != nil || f.kind == kEmptyArray {
			return nil, &badQuery{"order_by", vals.Get("order_by") + " is not a valid attribute to order by"}
		}
		q.order, q.orderF = orderAttr, f
	}
	switch strings.ToLower(vals.Get("dir")) {
	case "", "asc":
	case "desc":
		q.desc = true
	default:
		return nil, &badQuery{"dir", "must be asc or desc"}
	}
	switch vals.Get("return_object") {
	case "":
	case "limited":
		q.mode = modeLimited
	case "shallow":
		q.mode = modeShallow
	default:
		return nil, &badQuery{"return_object", "must be limited or shallow"}
	}
	if v := vals.Get("fields"); v != "" {
		sel, err := parseFields(v)
		if err != nil {
			return nil, &badQuery{"fields", err.Error()}
		}
		q.sel = sel
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		if !reserved[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // stable error messages
	for _, k := range keys {
		f, err := parseFilter(p, k, vals[k])
		if err != nil {
			return nil, err
		}
		switch f.target {
		case tUpdated:
			q.updLo, q.updHi = f.bounds(q.updLo, q.updHi)
		case tID:
			q.idLo, q.idHi = f.bounds(q.idLo, q.idHi)
		case tCreated:
			q.crLo, q.crHi = f.bounds(q.crLo, q.crHi)
		}
		q.filters = append(q.filters, f)
	}
	// Cheap filters first, generated attributes last.
	sort.SliceStable(q.filters, func(i, j int) bool { return q.filters[i].target < q.filters[j].target })
	return q, nil
}

// pager takes the window [offset, offset+limit) of a scan. With shuffle
// set, each run of equal updated_at is permuted before the window is cut,
// so every request sees a different order within a tie.
type pager struct {
	offset, limit int
	shuffle       *rand.Rand
	pos           int
	group         []state
	out           []state
}

func (p *pager) add(st state) bool {
	if p.shuffle == nil {
		if p.pos >= p.offset {
			p.out = append(p.out, st)
		}
		p.pos++
		return len(p.out) < p.limit
	}
	if len(p.group) > 0 && p.group[0].updated != st.updated && !p.flush() {
		return false
	}
	p.group = append(p.group, st)
	return true
}

func (p *pager) flush() bool {
	g := p.group
	start, end := p.pos, p.pos+len(g)
	if end > p.offset && start < p.offset+p.limit {
		p.shuffle.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		lo, hi := max(p.offset-start, 0), min(p.offset+p.limit-start, len(g))
		p.out = append(p.out, g[lo:hi]...)
	}
	p.pos = end
	p.group = p.group[:0]
	return p.pos < p.offset+p.limit
}

// selectStates runs a query under the table's read lock and returns the
// page's record states; rendering happens after the lock is released.
func (s *Server) selectStates(t *table, q *listQuery) []state {
	t.mu.RLock()
	defer t.mu.RUnlock()
	pg := &pager{offset: q.offset, limit: q.limit}
	if q.order == orderUpdated && s.cfg.Adversarial {
		pg.shuffle = rand.New(rand.NewPCG(uint64(s.faults.intn(math.MaxInt32)), uint64(q.offset)))
	}
	var buf []byte
	match := func(st state) bool {
		for _, f := range q.filters {
			if f.target != tAttr {
				if !f.matchFast(st) {
					return false
				}
				continue
			}
			var text string
			var null bool
			text, null, buf = s.attrText(t, f.field, f.sub, f.subID, st, buf)
			if !f.matchValue(text, null) {
				return false
			}
		}
		return true
	}
	idLo, idHi := q.idLo, q.idHi
	if q.crLo != math.MinInt64 || q.crHi != math.MaxInt64 {
		a, b := t.createdToIDs(q.crLo, q.crHi)
		idLo, idHi = max(idLo, a), min(idHi, b)
	}
	switch q.order {
	case orderUpdated:
		t.scanUpdated(q.updLo, q.updHi, q.desc, func(st state) bool {
			return !match(st) || pg.add(st)
		})
		if pg.shuffle != nil && len(pg.group) > 0 {
			pg.flush()
		}
	case orderAttr:
		type keyed struct {
			st   state
			text string
			null bool
			num  float64
		}
		var all []keyed
		t.scanID(idLo, idHi, false, func(st state) bool {
			if match(st) {
				var k keyed
				k.st = st
				k.text, k.null, buf = s.attrText(t, q.orderF, nil, false, st, buf)
				k.num, _ = strconv.ParseFloat(k.text, 64)
				all = append(all, k)
			}
			return true
		})
		numeric := kindOf(q.orderF, nil, false) == vNumber
		sort.SliceStable(all, func(i, j int) bool {
			a, b := all[i], all[j]
			if a.null != b.null {
				return a.null // NULLs first ascending, as MySQL
			}
			if numeric && a.num != b.num {
				return a.num < b.num
			}
			if !numeric && a.text != b.text {
				return a.text < b.text
			}
			return a.st.id < b.st.id
		})
		if q.desc {
			for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
				all[i], all[j] = all[j], all[i]
			}
		}
		for _, k := range all {
			if !pg.add(k.st) {
				break
			}
		}
	default:
		// Without order_by Coupa's order is undocumented; the simulator
		// answers in id order, which is not updated_at order.
		t.scanID(idLo, idHi, q.desc, func(st state) bool {
			return !match(st) || pg.add(st)
		})
	}
	return pg.out
}

// attrText reads one generated attribute of a record (the slow path).
func (s *Server) attrText(t *table, f, sub *field, subID bool, st state, buf []byte) (string, bool, []byte) {
	c := t.ctx(st)
	switch f.kind {
	case kLineCount:
		return strconv.Itoa(s.render.lineCount(t.plan, st.id, st.version)), false, buf
	case kAssoc:
		id, ok := s.render.assocID(f, &c, 0)
		if !ok {
			return "", true, buf
		}
		if subID {
			return strconv.FormatInt(id, 10), false, buf
		}
		kc := rctx{id: id, created: st.created}
		var null bool
		buf, null = s.render.scalar(buf[:0], sub, &kc)
		return string(buf), null, buf
	case kObject:
		if f.custom != nil {
			// The key as this version renders it: absent (null) before
			// it was added, of the kind it had when the version was written.
			o := f.customObj(c.seq)
			i := slices.IndexFunc(o.keys, func(k *field) bool { return k.key == sub.key })
			if i < 0 {
				return "", true, buf
			}
			sub = o.keys[i]
		}
		if sub.kind == kAssoc { // a lookup or user custom field: its id
			id, ok := s.render.assocID(sub, &c, 0)
			if !ok {
				return "", true, buf
			}
			return strconv.FormatInt(id, 10), false, buf
		}
		var null bool
		buf, null = s.render.scalar(buf[:0], sub, &c)
		return string(buf), null, buf
	case kNull:
		return "", true, buf
	case kCreated, kUpdated, kID, kParentID, kLineNum:
		buf = s.render.value(buf[:0], f, &c, nil, modeFull)
		return strings.Trim(string(buf), `"`), false, buf
	}
	var null bool
	buf, null = s.render.scalar(buf[:0], f, &c)
	return string(buf), null, buf
}

// list answers GET /api/<table>, and GET on a line list resource, whose
// lines are first expanded into a table of their own (lineTable).
func (s *Server) list(w http.ResponseWriter, r *http.Request, t *table, truncate bool) {
	q, err := parseList(t.plan, r.URL.RawQuery)
	if err != nil {
		bq := err.(*badQuery)
		writeErrors(w, http.StatusBadRequest, bq.field, bq.msg)
		return
	}
	if t.lineOf != nil {
		t = s.lineTable(t, q)
	}
	page := s.selectStates(t, q)
	s.stats.add(0, int64(len(page)))
	if !wantsJSON(r) {
		writeXML(w, t, page, s.render)
		return
	}
	body := make([]byte, 0, 1024+len(page)*8192)
	body = append(body, '[')
	for i, st := range page {
		if i > 0 {
			body = append(body, ',')
		}
		c := t.ctx(st)
		body = s.render.record(body, t.plan, &c, q.sel, q.mode)
	}
	body = append(body, ']')
	if truncate && len(body) > 2 {
		body = body[:1+s.faults.intn(len(body)-2)]
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// wantsJSON: Coupa answers XML unless the client asks for JSON.
func wantsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "application/json") {
			return true
		}
	}
	return false
}

// writeErrors writes Coupa's error body: {"errors":{"field":["message"]}}.
func writeErrors(w http.ResponseWriter, status int, field, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]map[string][]string{"errors": {field: {msg}}})
}
