package schemas

import (
	"fmt"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// The typed view of custom fields.
//
// A record with a custom_fields map (a table's top level, its lines) may
// also have a "custom" field: ["null", record] marked "coupa.view":
// "custom-fields", whose fields are the custom fields schema evolution has
// learned (learn.go), each ["null", T]. It is a view: it is written from
// the same "custom-fields" object as the map, which keeps every value as
// its JSON text. So a value the view cannot hold (a key not learned yet,
// a type that conflicts with the learned one) is never lost, only left
// untyped and counted (Stats).
//
// A learned lookup value or user is a nested view record of its
// identifying fields; its other keys stay in the map only.

// viewIdentityKeys are the keys a learned custom object keeps: the id and
// the natural keys people join on (lookup values' name and external
// reference, users' login, email and employee number).
var viewIdentityKeys = []string{"id", "code", "email", "employee-number", "external-ref-code", "external-ref-num", "login", "name", "number"}

func isViewIdentity(key []byte) bool {
	for _, k := range viewIdentityKeys {
		if string(key) == k {
			return true
		}
	}
	return false
}

// customField compiles the view field f of record p.
func (c *compiler) customField(p *recordPlan, f *avro.Field, fp *fieldPlan) error {
	if f.Prop(propView) != customFieldsKey || p.custom >= 0 {
		return fmt.Errorf("%s.%s: only one view, of %q, is supported", p.name, f.Name(), customFieldsKey)
	}
	rs, ok := deref(f.Type()).(*avro.RecordSchema)
	if _, union := f.Type().(*avro.UnionSchema); !ok || !union {
		return fmt.Errorf("%s.%s: a view must be [\"null\", record]", p.name, f.Name())
	}
	rp, err := c.viewRecord(rs, false)
	if err != nil {
		return err
	}
	fp.nullable, fp.kind, fp.rec = true, kView, rp
	p.custom = len(p.fields)
	p.fields = append(p.fields, *fp)
	return nil
}

// viewRecord compiles a record of a view: every field ["null", T], T a
// scalar or another view record; no extra map.
func (c *compiler) viewRecord(rs *avro.RecordSchema, nested bool) (*recordPlan, error) {
	if p, ok := c.recs[rs.FullName()]; ok {
		return p, nil
	}
	p := &recordPlan{name: rs.FullName(), byKey: map[string]int{}, extra: -1, id: -1, custom: -1, customFields: -1, view: true, identities: nested}
	c.recs[rs.FullName()] = p
	for _, f := range rs.Fields() {
		fp := fieldPlan{name: f.Name(), key: keyOf(f), nullable: true, learned: true}
		u, ok := f.Type().(*avro.UnionSchema)
		if !ok || len(u.Types()) != 2 || u.Types()[0].Type() != avro.Null {
			return nil, fmt.Errorf("%s.%s: view fields must be [\"null\", T]", p.name, f.Name())
		}
		typ := u.Types()[1]
		if r, ok := typ.(*avro.RefSchema); ok {
			typ = r.Schema()
		}
		if nested, ok := typ.(*avro.RecordSchema); ok {
			rp, err := c.viewRecord(nested, true)
			if err != nil {
				return nil, err
			}
			fp.valuePlan = valuePlan{kind: kRecord, rec: rp}
		} else {
			vp, err := c.value(typ, false)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", p.name, f.Name(), err)
			}
			if vp.kind == kArray || vp.kind == kJSONMap {
				return nil, fmt.Errorf("%s.%s: view fields are scalars or records", p.name, f.Name())
			}
			fp.valuePlan = vp
		}
		if _, dup := p.byKey[fp.key]; dup {
			return nil, fmt.Errorf("%s: two fields for Coupa key %q", p.name, fp.key)
		}
		p.byKey[fp.key] = len(p.fields)
		p.fields = append(p.fields, fp)
	}
	return p, nil
}

// AvroName maps a Coupa key to an Avro field name: '-' becomes '_', a '?'
// (Ruby's predicate suffix, e.g. "active?") becomes "_q", any other
// character outside [A-Za-z0-9_] becomes "_x" and its hex code point, and a
// leading digit gets a '_' prefix. The rule depends on the key alone, so a
// field's name never changes when other keys appear; the original key is
// recorded in the field's "coupa.key" property whenever replacing '_' by '-'
// would not give it back.
func AvroName(key string) string {
	var b strings.Builder
	for i, r := range key {
		switch {
		case r == '-':
			b.WriteByte('_')
		case r == '?':
			b.WriteString("_q")
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "_x%x", r)
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// avroKey is the Coupa key of an Avro field name without a coupa.key
// property.
func avroKey(name string) string { return strings.ReplaceAll(name, "_", "-") }

func keyOf(f *avro.Field) string {
	if k, ok := f.Prop(propKey).(string); ok {
		return k
	}
	return avroKey(f.Name())
}

// view writes the object b[sp] as view record rp and returns false when it
// is no object of distinct keys (the map then does not fit either, and the
// object is in extra). Keys the view lacks are counted untyped when a
// schema evolution could type them; values that do not fit their learned
// type are written as null and counted as conflicts.
func (st *encodeState) view(rp *recordPlan, b []byte, sp span, d int) bool {
	if b[sp.start] != '{' {
		return false
	}
	lv := st.level(d + 1)
	if cap(lv.spans) < len(rp.fields) {
		lv.spans = make([]span, len(rp.fields))
	}
	spans := lv.spans[:len(rp.fields)]
	clear(spans)
	if !st.members(lv, b, sp) {
		return false
	}
	untyped := 0
	for _, e := range lv.extras {
		if fi, ok := rp.byKey[string(e.key)]; ok {
			spans[fi] = e.val
		} else if learnable(b[e.val.start]) && (!rp.identities || isViewIdentity(e.key)) {
			untyped++
		}
	}
	st.untyped += untyped
	for fi := range rp.fields {
		f := &rp.fields[fi]
		s := spans[fi]
		if s.end == 0 || b[s.start] == 'n' {
			st.dst = append(st.dst, unionNull)
			continue
		}
		mark := len(st.dst)
		st.dst = append(st.dst, unionValue)
		var ok bool
		if f.kind == kRecord {
			ok = st.view(f.rec, b, s, d+1)
		} else {
			ok, _ = st.value(&f.valuePlan, b, s, d+1) // scalars: no error
		}
		if !ok {
			st.dst = append(st.dst[:mark], unionNull)
			st.misfit(f, b[s.start:s.end])
		}
	}
	return true
}

// misfit counts a value of learned field f that does not fit its type: a
// number with a fraction where an integer was learned can still be typed
// (the field widens to double), anything else is a conflict.
func (st *encodeState) misfit(f *fieldPlan, v []byte) {
	if f.kind == kLong && isNumber(v[0]) {
		if _, ok := parseDouble(v); ok {
			st.untyped++
			return
		}
	}
	st.conflicts++
}

// learnable: a value of this first byte can get a typed field (arrays and
// nulls cannot).
func learnable(c byte) bool { return c != 'n' && c != '[' }

func isNumber(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

// parseDate reads a "YYYY-MM-DD" calendar date as days since 1970-01-01;
// only text that formats back identically fits.
func parseDate(s []byte) (int64, bool) {
	if len(s) != 10 {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, string(s))
	if err != nil || t.Format(time.DateOnly) != string(s) {
		return 0, false
	}
	return t.Unix() / 86400, true
}
