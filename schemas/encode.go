package schemas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// Append converts one Coupa record (its JSON exactly as the client returns
// it) to the Avro binary of the table's value schema and appends it to dst.
// The Confluent header is not included: see AppendHeader.
//
// extra is how many values were kept as JSON text in an extra map (keys the
// schema does not know, and values that do not fit their declared type,
// at any nesting level) — the figure behind the "kept as extra" metric.
//
// An error means the input is not a single valid JSON object of valid
// UTF-8, has a duplicate key, or lacks an integer "id"; dst is then returned
// unchanged. Nothing else is a reason to refuse a record.
func (t *Table) Append(dst, raw []byte) (out []byte, extra int, err error) {
	out, stats, err := t.AppendStats(dst, raw)
	return out, stats.Extra, err
}

// Stats counts what one conversion could not give a typed field.
type Stats struct {
	// Extra counts values kept as JSON text in an extra map.
	Extra int
	// Untyped counts values a schema evolution could give a typed field
	// (see Table.Learn): keys the schema lacks and custom fields its view
	// lacks (nulls and arrays excluded), and fractions in a learned
	// integer. They wait in extra or custom_fields meanwhile.
	Untyped int
	// Conflicts counts values whose type conflicts with a learned field:
	// kept in extra (a learned field) or custom_fields (a custom one).
	Conflicts int
}

// AppendStats is Append, counting what could not be typed.
func (t *Table) AppendStats(dst, raw []byte) (out []byte, stats Stats, err error) {
	st, _ := t.pool.Get().(*encodeState)
	if st == nil {
		st = &encodeState{}
	}
	defer t.pool.Put(st)
	n := len(dst)
	if t.redact != nil {
		if st.redacted, err = t.redact.apply(st.redacted[:0], raw); err != nil {
			return dst[:n], Stats{}, fmt.Errorf("schemas: %s: %w", t.name, err)
		}
		raw = st.redacted
	}
	st.dst, st.extra, st.untyped, st.conflicts = dst, 0, 0, 0
	err = st.top(t.root, raw)
	out, stats = st.dst, Stats{Extra: st.extra, Untyped: st.untyped, Conflicts: st.conflicts}
	st.dst = nil
	if err != nil {
		return dst[:n], Stats{}, fmt.Errorf("schemas: %s: %w", t.name, err)
	}
	return out, stats, nil
}

// encodeState is the reusable scratch of one conversion (pooled per Table).
type encodeState struct {
	dst       []byte
	redacted  []byte // the record's JSON after redaction
	extra     int
	untyped   int
	conflicts int
	levels    []*levelScratch
	tmp       []byte
	order     []int
}

// levelScratch holds what one nesting level of records needs while its
// fields are written in schema order.
type levelScratch struct {
	spans  []span // value of each plan field, by field index
	extras []extraKV
	items  []span // elements of the array being written
}

// span is a value's bytes b[start:end]; end == 0 means the key was absent.
type span struct{ start, end int }

type extraKV struct {
	key  []byte // key as sent (unescaped), for unknown keys
	skey string // plan key, for known keys whose value did not fit
	val  span
}

func (e *extraKV) keyBytes() []byte {
	if e.key != nil {
		return e.key
	}
	return []byte(e.skey)
}

func (st *encodeState) level(d int) *levelScratch {
	for len(st.levels) <= d {
		st.levels = append(st.levels, &levelScratch{})
	}
	return st.levels[d]
}

var errNotObject = errors.New("record is not a JSON object")

func (st *encodeState) top(rp *recordPlan, b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("record is not valid UTF-8")
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	end, err := st.record(rp, b, i, 0)
	if err != nil {
		return err
	}
	if j := skipWS(b, end); j != len(b) {
		return synErr(b, j, "end of input after the record")
	}
	return nil
}

// record writes the object starting at b[i] ('{') as a record of rp and
// returns the offset after the object. d is the record nesting level.
func (st *encodeState) record(rp *recordPlan, b []byte, i, d int) (int, error) {
	lv := st.level(d)
	if cap(lv.spans) < len(rp.fields) {
		lv.spans = make([]span, len(rp.fields))
	}
	spans := lv.spans[:len(rp.fields)]
	clear(spans)
	lv.extras = lv.extras[:0]

	// Pass 1: find each key's value span.
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return i, synErr(b, i, "an object key")
			}
			kEnd, escaped, err := skipString(b, i)
			if err != nil {
				return i, err
			}
			key := b[i+1 : kEnd-1]
			if escaped {
				key, _ = unescape(nil, key)
			}
			i = skipWS(b, kEnd)
			if i >= len(b) || b[i] != ':' {
				return i, synErr(b, i, "':'")
			}
			vStart := skipWS(b, i+1)
			vEnd, err := skipValue(b, vStart, d+1)
			if err != nil {
				return vEnd, err
			}
			if fi, ok := rp.byKey[string(key)]; ok && fi != rp.extra {
				if spans[fi].end != 0 {
					return vStart, fmt.Errorf("duplicate key %q", key)
				}
				spans[fi] = span{vStart, vEnd}
			} else {
				lv.extras = append(lv.extras, extraKV{key: key, val: span{vStart, vEnd}})
				if rp.evolvable() && learnable(b[vStart]) {
					st.untyped++ // a key a schema evolution can add
				}
			}
			i = skipWS(b, vEnd)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return i, synErr(b, i, "',' or '}'")
		}
	}
	if k := st.duplicateKey(lv.extras); k != nil {
		return i, fmt.Errorf("duplicate key %q", k)
	}
	st.extra += len(lv.extras)

	// Pass 2: write the fields in schema order.
	for fi := range rp.fields {
		f := &rp.fields[fi]
		if fi == rp.extra {
			st.writeExtra(b, lv.extras)
			continue
		}
		if fi == rp.custom {
			st.writeView(f.rec, b, spans[rp.customFields], d)
			continue
		}
		sp := spans[fi]
		if sp.end == 0 || b[sp.start] == 'n' {
			if !f.nullable {
				return i, fmt.Errorf("%q is missing or null", f.key)
			}
			st.dst = append(st.dst, unionNull)
			continue
		}
		mark, extra, untyped, conflicts := len(st.dst), st.extra, st.untyped, st.conflicts
		if f.nullable {
			st.dst = append(st.dst, unionValue)
		}
		ok, err := st.value(&f.valuePlan, b, sp, d)
		if err != nil {
			return i, err
		}
		if ok && fi == rp.customFields && rp.custom < 0 {
			// No view yet: every custom field waits in the map.
			for _, e := range st.level(d + 1).extras {
				if learnable(b[e.val.start]) {
					st.untyped++
				}
			}
		}
		if ok {
			continue
		}
		// Does not fit: undo whatever was written, keep the JSON text.
		st.dst, st.extra, st.untyped, st.conflicts = st.dst[:mark], extra, untyped, conflicts
		if !f.nullable {
			return i, fmt.Errorf("%q is %s, not a %s", f.key, truncate(b[sp.start:sp.end], 40), kindName(f.kind))
		}
		st.dst = append(st.dst, unionNull)

		lv.extras = append(lv.extras, extraKV{skey: f.key, val: sp})
		st.extra++
		if f.learned {
			st.misfit(f, b[sp.start:sp.end])
		}
	}
	return i, nil
}

// duplicateKey returns a key that occurs twice among unknown keys. Known keys
// are checked as they are seen; Avro maps cannot hold a key twice, and
// which of two values is "the" value is a guess the converter won't make.
func (st *encodeState) duplicateKey(ex []extraKV) []byte {
	if len(ex) < 2 {
		return nil
	}
	if len(ex) <= 8 {
		for i := range ex {
			for j := i + 1; j < len(ex); j++ {
				if bytes.Equal(ex[i].key, ex[j].key) {
					return ex[i].key
				}
			}
		}
		return nil
	}
	st.order = st.order[:0]
	for i := range ex {
		st.order = append(st.order, i)
	}
	slices.SortFunc(st.order, func(a, b int) int { return bytes.Compare(ex[a].key, ex[b].key) })
	for k := 1; k < len(st.order); k++ {
		if bytes.Equal(ex[st.order[k-1]].key, ex[st.order[k]].key) {
			return ex[st.order[k]].key
		}
	}
	return nil
}

// writeView writes the custom view of the custom-fields value b[sp]
// (null when absent, null or no object of distinct keys).
func (st *encodeState) writeView(rp *recordPlan, b []byte, sp span, d int) {
	if sp.end == 0 || b[sp.start] == 'n' {
		st.dst = append(st.dst, unionNull)
		return
	}
	mark := len(st.dst)
	st.dst = append(st.dst, unionValue)
	if !st.view(rp, b, sp, d) {
		st.dst = append(st.dst[:mark], unionNull)
	}
}

func (st *encodeState) writeExtra(b []byte, ex []extraKV) {
	if len(ex) == 0 {
		st.dst = append(st.dst, unionNull)
		return
	}
	st.dst = append(st.dst, unionValue)
	st.dst = appendLong(st.dst, int64(len(ex)))
	for k := range ex {
		e := &ex[k]
		if e.key != nil {
			st.dst = appendBytes(st.dst, e.key)
		} else {
			st.dst = appendString(st.dst, e.skey)
		}
		st.dst = appendBytes(st.dst, b[e.val.start:e.val.end])
	}
	st.dst = append(st.dst, 0)
}

// value writes the non-null value b[sp] as vp. ok is false when the value
// does not fit; the caller then rolls back what was written. d is the
// nesting level of the record holding the value.
func (st *encodeState) value(vp *valuePlan, b []byte, sp span, d int) (ok bool, err error) {
	v := b[sp.start:sp.end]
	switch vp.kind {
	case kLong:
		n, ok := parseInt(v)
		if ok {
			st.dst = appendLong(st.dst, n)
		}
		return ok, nil
	case kBool:
		switch v[0] {
		case 't':
			st.dst = append(st.dst, 1)
			return true, nil
		case 'f':
			st.dst = append(st.dst, 0)
			return true, nil
		}
		return false, nil
	case kDouble:
		f, ok := parseDouble(v)
		if ok {
			st.dst = binary.LittleEndian.AppendUint64(st.dst, math.Float64bits(f))
		}
		return ok, nil
	case kString:
		if v[0] != '"' {
			return false, nil
		}
		body := v[1 : len(v)-1]
		if bytes.IndexByte(body, '\\') < 0 {
			st.dst = appendBytes(st.dst, body)
			return true, nil
		}
		var exact bool
		st.tmp, exact = unescape(st.tmp[:0], body)
		if exact {
			st.dst = appendBytes(st.dst, st.tmp)
		}
		return exact, nil
	case kDatetime:
		if v[0] != '"' {
			return false, nil
		}
		ms, ok := parseDatetime(v[1 : len(v)-1])
		if ok {
			st.dst = appendLong(st.dst, ms)
		}
		return ok, nil
	case kDecimal:
		if v[0] != '"' {
			return false, nil // a JSON number would come back as a string
		}
		st.dst, ok = appendDecimal(st.dst, v[1:len(v)-1], vp.precision, vp.scale)
		return ok, nil
	case kJSON:
		st.dst = appendBytes(st.dst, v)
		return true, nil
	case kJSONMap:
		return st.jsonMap(b, sp, d), nil
	case kDate:
		if v[0] != '"' {
			return false, nil
		}
		days, ok := parseDate(v[1 : len(v)-1])
		if ok {
			st.dst = appendLong(st.dst, days) // int and long share zigzag varints
		}
		return ok, nil
	case kRecord:
		if v[0] != '{' {
			return false, nil
		}
		if vp.rec.view {
			return st.view(vp.rec, b, sp, d), nil
		}
		_, err := st.record(vp.rec, b, sp.start, d+1)
		return err == nil, err
	case kArray:
		return st.array(vp.items, b, sp, d)
	}
	return false, fmt.Errorf("internal: no encoder for kind %d", vp.kind)
}

func (st *encodeState) array(items *valuePlan, b []byte, sp span, d int) (bool, error) {
	if b[sp.start] != '[' {
		return false, nil
	}
	lv := st.level(d)
	lv.items = lv.items[:0]
	i := skipWS(b, sp.start+1)
	for b[i] != ']' {
		end, _ := skipValue(b, i, 0) // validated by the caller's pass 1
		lv.items = append(lv.items, span{i, end})
		i = skipWS(b, end)
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	if len(lv.items) > 0 {
		st.dst = appendLong(st.dst, int64(len(lv.items)))
		// Iterate over a copy of the bounds: nested arrays reuse deeper
		// levels only, so lv.items stays intact, but index it fresh.
		for k := 0; k < len(lv.items); k++ {
			e := lv.items[k]
			if b[e.start] == 'n' {
				return false, nil // array items are not nullable
			}
			ok, err := st.value(items, b, e, d)
			if err != nil || !ok {
				return ok, err
			}
		}
	}
	st.dst = append(st.dst, 0)
	return true, nil
}

// jsonMap writes a JSON object as a map of JSON text (custom-fields). An
// object with a duplicate key does not fit (and lands whole in extra).
func (st *encodeState) jsonMap(b []byte, sp span, d int) bool {
	if b[sp.start] != '{' {
		return false
	}
	lv := st.level(d + 1)
	if !st.members(lv, b, sp) {
		return false
	}
	if len(lv.extras) > 0 {
		st.dst = appendLong(st.dst, int64(len(lv.extras)))
		for k := range lv.extras {
			e := &lv.extras[k]
			st.dst = appendBytes(st.dst, e.key)
			st.dst = appendBytes(st.dst, b[e.val.start:e.val.end])
		}
	}
	st.dst = append(st.dst, 0)
	return true
}

// members collects the members of the object b[sp] (validated by pass 1)
// into lv.extras, keys unescaped, and reports false when a key occurs
// twice.
func (st *encodeState) members(lv *levelScratch, b []byte, sp span) bool {
	lv.extras = lv.extras[:0]
	i := skipWS(b, sp.start+1)
	for b[i] != '}' {
		kEnd, escaped, _ := skipString(b, i)
		key := b[i+1 : kEnd-1]
		if escaped {
			key, _ = unescape(nil, key)
		}
		vStart := skipWS(b, skipWS(b, kEnd)+1)
		vEnd, _ := skipValue(b, vStart, 0)
		lv.extras = append(lv.extras, extraKV{key: key, val: span{vStart, vEnd}})
		i = skipWS(b, vEnd)
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	return st.duplicateKey(lv.extras) == nil
}

func kindName(k kind) string {
	switch k {
	case kLong:
		return "integer"
	case kBool:
		return "boolean"
	case kDouble:
		return "number"
	case kString:
		return "string"
	case kDatetime:
		return "datetime"
	case kDecimal:
		return "decimal string"
	case kRecord:
		return "object"
	case kArray:
		return "array"
	}
	return "value"
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Add sums two conversions' counts.
func (s Stats) Add(o Stats) Stats {
	return Stats{Extra: s.Extra + o.Extra, Untyped: s.Untyped + o.Untyped, Conflicts: s.Conflicts + o.Conflicts}
}
