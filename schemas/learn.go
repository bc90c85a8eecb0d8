package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Schema evolution.
//
// A table's generated schema cannot know an instance's custom fields, nor
// the fields a newer Coupa release adds. Learn extends it from the records
// themselves: in every record with a custom_fields map (a table's top level
// and its lines), a custom field gets a typed field in the "custom" view
// (custom.go), and a key the schema lacks gets a field of its own, out of
// extra. Every learned field is ["null", T] with default null, so each new
// schema reads everything written before (BACKWARD_TRANSITIVE); the
// registry decides, Registry.Register checks first.
//
// Types are learned from JSON values: true/false -> boolean; an integer ->
// long (a later fraction widens it to double, an Avro promotion); another
// number -> double when exact; text -> timestamp-millis when it is a
// datetime with a zone, date when it is YYYY-MM-DD, else string (never a
// decimal: "00123" is a code, not a number). A custom object (a lookup
// value, a user) -> a record of its identifying keys (viewIdentityKeys); an
// object the schema lacks -> a record of its scalar members and an extra
// map for the rest. Nulls and arrays are not learned: they stay in
// custom_fields or extra. A key whose Avro name another field already
// holds is not learned either.
//
// What was learned lives in the schema text only: Adopt reads it back
// from the latest registered version of the subject, so every process,
// replica and restart derives the same schema from the registry.

// learning is what a table learned beyond its generated schema, by the
// full name of each evolvable record.
type learning map[string]*learnedRecord

// learnedRecord holds the Avro field definitions (JSON objects) learned
// for one record, in the order learned.
type learnedRecord struct {
	Promoted []map[string]any `json:"promoted"`
	Custom   []map[string]any `json:"custom"`
}

func (l learning) clone() learning {
	b, _ := json.Marshal(l)
	out := learning{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&out) != nil || out == nil {
		return learning{}
	}
	return out
}

func (l learning) record(name string) *learnedRecord {
	r := l[name]
	if r == nil {
		r = &learnedRecord{}
		l[name] = r
	}
	return r
}

// Base is the generated schema t was learned from (t itself if none).
func (t *Table) Base() *Table {
	if t.base != nil {
		return t.base
	}
	return t
}

// Learned says whether t has fields its generated schema lacks.
func (t *Table) Learned() bool { return t.base != nil }

// Learn returns t extended by whatever raw (a record Table.AppendStats
// counted Untyped values in) shows that t cannot type yet, or t itself when
// raw teaches nothing.
func (t *Table) Learn(raw []byte) (*Table, error) {
	if t.redact != nil {
		var err error
		if raw, err = t.redact.apply(nil, raw); err != nil {
			return t, fmt.Errorf("schemas: %s: %w", t.name, err)
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return t, fmt.Errorf("schemas: %s: %w", t.name, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return t, fmt.Errorf("schemas: %s: %w", t.name, errNotObject)
	}
	l := t.learned.clone()
	if !learnRecord(t.root, obj, l) {
		return t, nil
	}
	return t.Base().withLearning(l)
}

// Adopt returns t's generated schema extended by what registered, a
// schema text of t's subject, learned; t's generated schema itself when it
// learned nothing.
func (t *Table) Adopt(registered string) (*Table, error) {
	base := t.Base()
	var v any
	dec := json.NewDecoder(bytes.NewReader([]byte(registered)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("schemas: %s: registered schema: %w", t.name, err)
	}
	l := learning{}
	walkRecords(v, func(rec map[string]any) {
		name, _ := rec["name"].(string)
		rp := base.recs[name]
		if rp == nil || !rp.evolvable() {
			return
		}
		fields, _ := rec["fields"].([]any)
		for _, f := range fields {
			fd, _ := f.(map[string]any)
			fname, _ := fd["name"].(string)
			switch {
			case fd[propView] == customFieldsKey:
				for _, cf := range viewRecordFields(fd) {
					l.record(name).Custom = append(l.record(name).Custom, cf)
				}
			case fd[propLearned] == true && !rp.hasField(fname):
				l.record(name).Promoted = append(l.record(name).Promoted, fd)
			}
		}
	})
	if len(l) == 0 {
		return base, nil
	}
	return base.withLearning(l)
}

func (rp *recordPlan) hasField(name string) bool {
	for i := range rp.fields {
		if rp.fields[i].name == name {
			return true
		}
	}
	return false
}

// viewRecordFields returns the field definitions of a view field's record.
func viewRecordFields(fd map[string]any) []map[string]any {
	u, _ := fd["type"].([]any)
	if len(u) != 2 {
		return nil
	}
	rec, _ := u[1].(map[string]any)
	fields, _ := rec["fields"].([]any)
	var out []map[string]any
	for _, f := range fields {
		if m, ok := f.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// walkRecords calls fn with every record definition in the schema JSON v.
func walkRecords(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "record" {
			fn(v)
		}
		for _, k := range slices.Sorted(mapKeys(v)) {
			walkRecords(v[k], fn)
		}
	case []any:
		for _, e := range v {
			walkRecords(e, fn)
		}
	}
}

// withLearning renders base's schema with l's fields: promoted fields
// right before custom_fields, the custom view right after it, each sorted
// by name (and a learned object's fields too). The text depends on what
// was learned, not on the order it was learned in: two processes that
// learned the same fields from different records register one version,
// and content hashes (ContentHash) agree across versions.
func (base *Table) withLearning(l learning) (*Table, error) {
	l.sort()
	var v any
	dec := json.NewDecoder(bytes.NewReader([]byte(base.text)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	walkRecords(v, func(rec map[string]any) {
		name, _ := rec["name"].(string)
		lr := l[name]
		if lr == nil {
			return
		}
		fields, _ := rec["fields"].([]any)
		var out []any
		for _, f := range fields {
			fd, _ := f.(map[string]any)
			if fd["name"] == "custom_fields" {
				for _, p := range lr.Promoted {
					out = append(out, p)
				}
				out = append(out, fd)
				if len(lr.Custom) > 0 {
					out = append(out, viewField(name, lr.Custom))
				}
				continue
			}
			out = append(out, f)
		}
		rec["fields"] = out
	})
	text, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	t, err := NewTable(base.name, string(text))
	if err != nil {
		return nil, err
	}
	t.redact, t.base, t.learned = base.redact, base, l
	return t, nil
}

// sort puts every learned field list in name order.
func (l learning) sort() {
	byName := func(a, b map[string]any) int {
		an, _ := a["name"].(string)
		bn, _ := b["name"].(string)
		return strings.Compare(an, bn)
	}
	for _, lr := range l {
		slices.SortFunc(lr.Promoted, byName)
		slices.SortFunc(lr.Custom, byName)
		for _, f := range lr.Custom {
			u, _ := f["type"].([]any)
			if len(u) != 2 {
				continue
			}
			if rec, ok := u[1].(map[string]any); ok {
				fields := fieldDefs(rec["fields"])
				slices.SortFunc(fields, byName)
				sorted := make([]any, len(fields))
				for i, fd := range fields {
					sorted[i] = fd
				}
				rec["fields"] = sorted
			}
		}
	}
}

func viewField(record string, fields []map[string]any) map[string]any {
	fs := make([]any, len(fields))
	for i, f := range fields {
		fs[i] = f
	}
	return map[string]any{
		"name": customName,
		"type": []any{"null", map[string]any{
			"type": "record", "name": record + "Custom", "fields": fs,
			"doc": "The custom fields coupa-kafka has learned, typed. Learned from the records as they arrive; custom_fields keeps every value as JSON text.",
		}},
		"default": nil,
		"doc":     "Typed custom fields (a view of custom_fields): a field per custom field seen, null when absent or when its value does not fit the learned type.",
		propView:  customFieldsKey,
	}
}

// learnRecord learns from obj, a value of record rp, into l and reports
// whether anything was new.
func learnRecord(rp *recordPlan, obj map[string]any, l learning) bool {
	if rp.view || rp.extra < 0 {
		return false
	}
	changed := false
	if rp.evolvable() {
		lr := l[rp.name]
		for _, key := range slices.Sorted(mapKeys(obj)) {
			val := obj[key]
			if fi, known := rp.byKey[key]; known {
				if f := &rp.fields[fi]; f.learned && widens(f, val) {
					lr = l.record(rp.name)
					changed = widen(lr.Promoted, f.name) || changed
				}
				continue
			}
			if def := promotedField(rp, lr, key, val); def != nil {
				lr = l.record(rp.name)
				lr.Promoted = append(lr.Promoted, def)
				changed = true
			}
		}
		if cf, ok := obj[customFieldsKey].(map[string]any); ok {
			changed = learnCustom(rp, cf, l) || changed
		}
	}
	for i := range rp.fields {
		f := &rp.fields[i]
		var rec *recordPlan
		switch {
		case f.kind == kRecord:
			rec = f.rec
		case f.kind == kArray && f.items.kind == kRecord:
			rec = f.items.rec
		}
		if rec == nil || !rec.evolvable() {
			continue
		}
		switch v := obj[f.key].(type) {
		case map[string]any:
			changed = learnRecord(rec, v, l) || changed
		case []any:
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					changed = learnRecord(rec, m, l) || changed
				}
			}
		}
	}
	return changed
}

// learnCustom learns the custom fields cf of a value of rp.
func learnCustom(rp *recordPlan, cf map[string]any, l learning) bool {
	var view *recordPlan
	if rp.custom >= 0 {
		view = rp.fields[rp.custom].rec
	}
	changed := false
	for _, key := range slices.Sorted(mapKeys(cf)) {
		val := cf[key]
		if view != nil {
			if fi, ok := view.byKey[key]; ok {
				f := &view.fields[fi]
				switch {
				case widens(f, val):
					changed = widen(l.record(rp.name).Custom, f.name) || changed
				case f.kind == kRecord:
					if m, ok := val.(map[string]any); ok {
						changed = learnIdentities(l.record(rp.name).Custom, f, m) || changed
					}
				}
				continue
			}
		}
		lr := l.record(rp.name)
		name := AvroName(key)
		if learnedNamed(lr.Custom, name) != nil {
			continue // another key with this Avro name was learned first
		}
		typ := inferType(val, func(m map[string]any) any {
			return identityRecord(rp.name+"Custom_"+name, m, nil)
		})
		if typ == nil {
			continue
		}
		lr.Custom = append(lr.Custom, learnedFieldDef(key, name, typ, fmt.Sprintf("Custom field %q, typed as its values showed.", key)))
		changed = true
	}
	return changed
}

// promotedField returns the definition of a field for key, which rp
// lacks, or nil when val cannot be typed or the name is taken.
func promotedField(rp *recordPlan, lr *learnedRecord, key string, val any) map[string]any {
	name := AvroName(key)
	if rp.hasField(name) || name == customName {
		return nil
	}
	if lr != nil && learnedNamed(lr.Promoted, name) != nil {
		return nil
	}
	typ := inferType(val, func(m map[string]any) any { return scalarRecord(rp.name+"_"+name, m) })
	if typ == nil {
		return nil
	}
	return learnedFieldDef(key, name, typ, fmt.Sprintf("Coupa key %q, which the R39 OpenAPI lacks: typed as its values showed.", key))
}

func learnedFieldDef(key, name string, typ any, doc string) map[string]any {
	def := map[string]any{"name": name, "type": []any{"null", typ}, "default": nil, "doc": doc, propLearned: true}
	if avroKey(name) != key {
		def[propKey] = key
	}
	return def
}

func learnedNamed(defs []map[string]any, name string) map[string]any {
	for _, d := range defs {
		if d["name"] == name {
			return d
		}
	}
	return nil
}

// inferType is the Avro type of a JSON value (nil: not learnable);
// object types a JSON object.
func inferType(v any, object func(map[string]any) any) any {
	switch v := v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		if _, ok := parseInt([]byte(v)); ok {
			return "long"
		}
		if _, ok := parseDouble([]byte(v)); ok {
			return "double"
		}
	case string:
		if _, ok := parseDatetime([]byte(v)); ok {
			return map[string]any{"type": "long", "logicalType": "timestamp-millis"}
		}
		if _, ok := parseDate([]byte(v)); ok {
			return map[string]any{"type": "int", "logicalType": "date"}
		}
		return "string"
	case map[string]any:
		return object(v)
	}
	return nil
}

// identityRecord is the view record of a custom object: its identifying
// keys (nil when it has none). have holds fields already learned.
func identityRecord(name string, m map[string]any, have []map[string]any) any {
	var fields []any
	for _, k := range viewIdentityKeys {
		if typ := scalarType(m[k]); typ != nil && learnedNamed(have, AvroName(k)) == nil {
			fields = append(fields, learnedFieldDef(k, AvroName(k), typ, fmt.Sprintf("The object's %q.", k)))
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return map[string]any{"type": "record", "name": name, "fields": fields,
		"doc": "The identifying fields of a custom field's object (a lookup value, a user); custom_fields has all of it."}
}

// scalarRecord is the record of an object the schema lacks: its scalar
// members typed, and an extra map for everything else (nothing is lost).
func scalarRecord(name string, m map[string]any) any {
	fields := []any{}
	for _, k := range slices.Sorted(mapKeys(m)) {
		if typ := scalarType(m[k]); typ != nil {
			fields = append(fields, learnedFieldDef(k, AvroName(k), typ, fmt.Sprintf("Coupa key %q, typed as its values showed.", k)))
		}
	}
	fields = append(fields, map[string]any{"name": extraName, "type": []any{"null", map[string]any{"type": "map", "values": "string"}}, "default": nil,
		"doc": "The object's other keys, and values that did not fit, as their JSON text."})
	return map[string]any{"type": "record", "name": name, "fields": fields, "doc": "An object Coupa sends that the R39 OpenAPI lacks, typed as its values showed."}
}

func scalarType(v any) any {
	if _, ok := v.(map[string]any); ok {
		return nil
	}
	return inferType(v, func(map[string]any) any { return nil })
}

// widens: f, learned as an integer, got a number with a fraction.
func widens(f *fieldPlan, v any) bool {
	n, ok := v.(json.Number)
	if !ok || f.kind != kLong {
		return false
	}
	_, isInt := parseInt([]byte(n))
	_, fits := parseDouble([]byte(n))
	return !isInt && fits
}

// widen turns the learned long field name into a double (Avro promotes
// long to double, so the new schema reads the old data).
func widen(defs []map[string]any, name string) bool {
	d := learnedNamed(defs, name)
	if d == nil {
		return false
	}
	d["type"] = []any{"null", "double"}
	return true
}

// learnIdentities adds the identifying keys m has to the learned object
// field f of defs.
func learnIdentities(defs []map[string]any, f *fieldPlan, m map[string]any) bool {
	d := learnedNamed(defs, f.name)
	if d == nil {
		return false
	}
	u, _ := d["type"].([]any)
	rec, _ := u[1].(map[string]any)
	have := fieldDefs(rec["fields"])
	more, _ := identityRecord("", m, have).(map[string]any)
	if more == nil {
		return false
	}
	fields, _ := rec["fields"].([]any)
	rec["fields"] = append(fields, more["fields"].([]any)...)
	return true
}

func fieldDefs(v any) []map[string]any {
	fs, _ := v.([]any)
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		if m, ok := f.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
