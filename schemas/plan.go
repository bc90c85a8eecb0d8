package schemas

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// kind is how a field's JSON value is checked and written. The plan is
// compiled from the Avro schema alone (plus two field properties the
// generator writes), so the committed .avsc is the single source of truth.
type kind uint8

const (
	kLong     kind = iota + 1 // JSON integer -> long
	kBool                     // true/false -> boolean
	kDouble                   // JSON number -> double (OpenAPI float)
	kString                   // JSON string -> string
	kDatetime                 // RFC 3339 string with zone -> timestamp-millis
	kDecimal                  // plain decimal string -> bytes decimal
	kJSON                     // any JSON value -> its text (coupa.json fields)
	kJSONMap                  // JSON object -> map of JSON text (custom-fields)
	kRecord                   // JSON object -> nested record
	kArray                    // JSON array -> array
	kDate                     // "YYYY-MM-DD" -> int date (learned custom fields)
	kView                     // custom-fields object -> typed view record (see custom.go)
)

// valuePlan describes one value (a field's non-null branch or array items).
type valuePlan struct {
	kind      kind
	precision int
	scale     int
	rec       *recordPlan // kRecord
	items     *valuePlan  // kArray
}

type fieldPlan struct {
	key      string // Coupa's JSON key
	name     string // Avro field name
	nullable bool   // ["null", T] (every field but the top-level id)
	learned  bool   // added by schema evolution (see learn.go): a misfit is a conflict
	valuePlan
}

type recordPlan struct {
	name   string
	fields []fieldPlan
	byKey  map[string]int
	extra  int // index of the extra map field (-1 in a view)
	id     int // index of a required "id" field, or -1
	// custom and customFields index the typed view of the custom fields
	// and the custom-fields map, or are -1. A record with a custom-fields
	// map is evolvable: unknown keys and custom fields can be learned.
	custom, customFields int
	// view: a record of the typed view of custom fields (custom.go). It
	// has no extra map: the custom-fields map keeps every value.
	view bool
	// identities: a learned custom object (a lookup value, a user) inside
	// the view, which only ever learns identifying keys.
	identities bool
}

// evolvable says whether schema evolution may add fields to rp.
func (rp *recordPlan) evolvable() bool { return rp.customFields >= 0 }

// PropKey and PropJSON are the field properties the generator writes (see
// schemas/internal/avscgen).
const (
	propKey   = "coupa.key"
	propJSON  = "coupa.json"
	extraName = "extra"
	// propView marks the field holding the typed view of a key's object
	// (the custom record of "custom-fields"); propLearned marks a field
	// that schema evolution added (learn.go).
	propView    = "coupa.view"
	propLearned = "coupa.learned"
	customName  = "custom"
	// maxPrecision bounds decimals: every digit string up to 38 digits fits
	// the 128-bit arithmetic the encoder uses.
	maxPrecision = 38
)

type compiler struct {
	recs map[string]*recordPlan // by full name: a named type reused in a schema shares its plan
}

func (c *compiler) record(rs *avro.RecordSchema) (*recordPlan, error) {
	if p, ok := c.recs[rs.FullName()]; ok {
		return p, nil
	}
	p := &recordPlan{name: rs.FullName(), byKey: map[string]int{}, extra: -1, id: -1, custom: -1, customFields: -1}
	c.recs[rs.FullName()] = p
	for _, f := range rs.Fields() {
		fp := fieldPlan{name: f.Name(), key: avroKey(f.Name()), learned: f.Prop(propLearned) == true}
		if k, ok := f.Prop(propKey).(string); ok {
			fp.key = k
		}
		if f.Prop(propView) != nil {
			if err := c.customField(p, f, &fp); err != nil {
				return nil, err
			}
			continue
		}
		typ := f.Type()
		if u, ok := typ.(*avro.UnionSchema); ok {
			ts := u.Types()
			if len(ts) != 2 || ts[0].Type() != avro.Null {
				return nil, fmt.Errorf("%s.%s: only [\"null\", T] unions are supported", p.name, f.Name())
			}
			fp.nullable = true
			typ = ts[1]
		}
		if f.Name() == extraName {
			if !fp.nullable || !isStringMap(typ) {
				return nil, fmt.Errorf("%s.extra must be [\"null\", map<string>]", p.name)
			}
			p.extra = len(p.fields)
			p.fields = append(p.fields, fp)
			continue
		}
		vp, err := c.value(typ, f.Prop(propJSON) == true)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", p.name, f.Name(), err)
		}
		fp.valuePlan = vp
		if !fp.nullable && (f.Name() != "id" || fp.kind != kLong) {
			return nil, fmt.Errorf("%s.%s: only the id may be required; other fields must be [\"null\", T]", p.name, f.Name())
		}
		if !fp.nullable {
			p.id = len(p.fields)
		}
		if fp.kind == kJSONMap && fp.key == customFieldsKey {
			p.customFields = len(p.fields)
		}
		if _, dup := p.byKey[fp.key]; dup {
			return nil, fmt.Errorf("%s: two fields for Coupa key %q", p.name, fp.key)
		}
		p.byKey[fp.key] = len(p.fields)
		p.fields = append(p.fields, fp)
	}
	if p.extra < 0 {
		return nil, fmt.Errorf("%s has no extra field: unknown keys would be lost", p.name)
	}
	if p.extra != len(p.fields)-1 {
		return nil, fmt.Errorf("%s: extra must be the last field", p.name)
	}
	if p.custom >= 0 && p.customFields < 0 {
		return nil, fmt.Errorf("%s.%s: a view of custom fields needs a custom_fields map", p.name, p.fields[p.custom].name)
	}
	return p, nil
}

func isStringMap(s avro.Schema) bool {
	m, ok := s.(*avro.MapSchema)
	return ok && m.Values().Type() == avro.String
}

func (c *compiler) value(s avro.Schema, isJSON bool) (valuePlan, error) {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		switch l := s.Logical().(type) {
		case nil:
		case *avro.DecimalLogicalSchema:
			if s.Type() != avro.Bytes {
				return valuePlan{}, fmt.Errorf("decimal must be bytes")
			}
			if l.Precision() > maxPrecision || l.Scale() > l.Precision() {
				return valuePlan{}, fmt.Errorf("decimal(%d,%d): precision is capped at %d", l.Precision(), l.Scale(), maxPrecision)
			}
			return valuePlan{kind: kDecimal, precision: l.Precision(), scale: l.Scale()}, nil
		default:
			if s.Type() == avro.Long && l.Type() == avro.TimestampMillis {
				return valuePlan{kind: kDatetime}, nil
			}
			if s.Type() == avro.Int && l.Type() == avro.Date {
				return valuePlan{kind: kDate}, nil
			}
			return valuePlan{}, fmt.Errorf("unsupported logical type %s", l.Type())
		}
		switch s.Type() {
		case avro.Long:
			return valuePlan{kind: kLong}, nil
		case avro.Boolean:
			return valuePlan{kind: kBool}, nil
		case avro.Double:
			return valuePlan{kind: kDouble}, nil
		case avro.String:
			if isJSON {
				return valuePlan{kind: kJSON}, nil
			}
			return valuePlan{kind: kString}, nil
		}
	case *avro.RecordSchema:
		rp, err := c.record(s)
		if err != nil {
			return valuePlan{}, err
		}
		return valuePlan{kind: kRecord, rec: rp}, nil
	case *avro.ArraySchema:
		items, err := c.value(s.Items(), false)
		if err != nil {
			return valuePlan{}, err
		}
		if items.kind == kArray || items.kind == kJSONMap {
			return valuePlan{}, fmt.Errorf("arrays of %s are not supported", s.Items().Type())
		}
		return valuePlan{kind: kArray, items: &items}, nil
	case *avro.MapSchema:
		if s.Values().Type() == avro.String {
			return valuePlan{kind: kJSONMap}, nil
		}
	}
	return valuePlan{}, fmt.Errorf("unsupported type %s", s.Type())
}
