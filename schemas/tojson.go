package schemas

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// ToJSON rebuilds Coupa-shaped JSON from the Avro binary of one value (no
// Confluent header): hyphenated Coupa keys, decimals as strings, datetimes
// as UTC RFC 3339, and every extra entry back under its original key. It
// decodes with hamba/avro, not with this package's encoder, which is what
// makes it an independent check in the round-trip tests.
//
// The result equals the JSON Coupa sent up to these normalisations: a null
// and an absent key are both omitted; datetimes are UTC instants (with
// milliseconds only when non-zero); decimals are their exact value in
// shortest form ("1.50" -> "1.5", "-0" -> "0"); key order is schema order,
// then extra keys sorted.
func (t *Table) ToJSON(avroBinary []byte) ([]byte, error) {
	var v any
	if err := avro.Unmarshal(t.schema, avroBinary, &v); err != nil {
		return nil, fmt.Errorf("schemas: %s: decoding Avro: %w", t.name, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: %s: decoded %T, not a record", t.name, v)
	}
	return appendRecordJSON(nil, t.root, m)
}

// ToJSONFrom is ToJSON of a value written with another version of t's
// schema, read with t's as Avro schema resolution does (what a consumer
// that reads with the latest version sees): fields writer lacks take
// their defaults. It fails when t cannot read writer's data.
func (t *Table) ToJSONFrom(writer *Table, avroBinary []byte) ([]byte, error) {
	resolved, ok := t.resolved.Load(writer.text)
	if !ok {
		s, err := avro.NewSchemaCompatibility().Resolve(t.schema, writer.schema)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: cannot read the data of another version: %w", t.name, err)
		}
		resolved, _ = t.resolved.LoadOrStore(writer.text, s)
	}
	var v any
	if err := avro.Unmarshal(resolved.(avro.Schema), avroBinary, &v); err != nil {
		return nil, fmt.Errorf("schemas: %s: decoding Avro of another version: %w", t.name, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: %s: decoded %T, not a record", t.name, v)
	}
	return appendRecordJSON(nil, t.root, m)
}

func appendRecordJSON(dst []byte, rp *recordPlan, m map[string]any) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	for fi := range rp.fields {
		f := &rp.fields[fi]
		v := m[f.name]
		if v == nil || fi == rp.custom { // the view repeats custom_fields
			continue
		}
		if f.nullable {
			v = unwrapUnion(f, fi == rp.extra, v)
		}
		if fi == rp.extra {
			ex, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s.extra: decoded %T", rp.name, v)
			}
			for _, k := range slices.Sorted(mapKeys(ex)) {
				text, _ := ex[k].(string)
				sep()
				dst = appendJSONString(dst, k)
				dst = append(dst, ':')
				dst = append(dst, text...)
			}
			continue
		}
		sep()
		dst = appendJSONString(dst, f.key)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValueJSON(dst, &f.valuePlan, v); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", rp.name, f.name, err)
		}
	}
	return append(dst, '}'), nil
}

// unwrapUnion undoes hamba's decoding of a ["null", T] union whose T is not
// a primitive: it yields map[T's name]value.
func unwrapUnion(f *fieldPlan, isExtra bool, v any) any {
	var name string
	switch {
	case isExtra || f.kind == kJSONMap:
		name = "map"
	case f.kind == kArray:
		name = "array"
	case f.kind == kRecord:
		name = f.rec.name
	default:
		return v
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if inner, ok := m[name]; ok {
			return inner
		}
	}
	return v
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func appendValueJSON(dst []byte, vp *valuePlan, v any) ([]byte, error) {
	bad := func() ([]byte, error) { return nil, fmt.Errorf("decoded %T for kind %s", v, kindName(vp.kind)) }
	switch vp.kind {
	case kLong:
		n, ok := v.(int64)
		if !ok {
			return bad()
		}
		return strconv.AppendInt(dst, n, 10), nil
	case kBool:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		return strconv.AppendBool(dst, b), nil
	case kString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendJSONString(dst, s), nil
	case kDouble:
		f, ok := v.(float64)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return bad()
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	case kJSON:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return append(dst, s...), nil
	case kDatetime:
		tm, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return appendJSONString(dst, FormatDatetime(tm)), nil
	case kDate:
		tm, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return appendJSONString(dst, tm.UTC().Format(time.DateOnly)), nil
	case kDecimal:
		r, ok := v.(*big.Rat)
		if !ok {
			return bad()
		}
		return appendJSONString(dst, FormatDecimal(r, vp.scale)), nil
	case kJSONMap:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		dst = append(dst, '{')
		for i, k := range slices.Sorted(mapKeys(m)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			text, _ := m[k].(string)
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = append(dst, text...)
		}
		return append(dst, '}'), nil
	case kRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		return appendRecordJSON(dst, vp.rec, m)
	case kArray:
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		dst = append(dst, '[')
		for i, e := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValueJSON(dst, vp.items, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	return bad()
}

// FormatDatetime formats a timestamp-millis value the way ToJSON does: UTC,
// RFC 3339, milliseconds only when there are any.
func FormatDatetime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999Z07:00")
}

// FormatDecimal formats a decimal's exact value in shortest plain notation
// ("12.5", "-3", "0.0001"); scale is the schema's scale.
func FormatDecimal(r *big.Rat, scale int) string {
	s := r.FloatString(scale) // exact: the denominator divides 10^scale
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as JSON, escaping only what JSON requires (and
// U+2028/U+2029, like encoding/json). Invalid UTF-8 cannot occur: Append
// refuses it.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
