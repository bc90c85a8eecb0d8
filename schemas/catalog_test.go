package schemas

import (
	"fmt"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Every catalog table's schema (and every line topic's) round-trips a
// record that sets every field it has, at every depth, to a value of its
// declared type, plus a key it does not know in every object: hamba/avro
// encodes and decodes each of them, and only the unknown keys land in
// extra. This covers the tables the simulator does not serve.
func TestRoundTripEveryCatalogSchema(t *testing.T) {
	for _, ct := range coupa.Catalog {
		names := []string{ct.Name}
		if ct.LineTopic != "" {
			names = append(names, ct.LineTopic)
		}
		for _, name := range names {
			tb := mustLoad(t, name)
			f := &filler{}
			raw := f.record(tb.root, 0)
			extra, err := roundTrip(tb, raw)
			if err != nil {
				t.Errorf("%s: %v\noriginal: %s", name, err, raw)
				continue
			}
			if extra != f.objects {
				t.Errorf("%s: %d values kept in extra, want %d (one unknown key per object): a value did not fit its own schema\n%s", name, extra, f.objects, raw)
			}
		}
	}
}

// filler writes a JSON record that fills every field of a record plan.
type filler struct {
	objects int // JSON objects written, each with one unknown key
	n       int64
}

func (f *filler) record(rp *recordPlan, depth int) []byte {
	var b strings.Builder
	b.WriteString("{")
	for i, fp := range rp.fields {
		if i == rp.extra {
			continue
		}
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:", fp.key)
		b.Write(f.value(&fp.valuePlan, depth))
	}
	f.objects++
	fmt.Fprintf(&b, `,"coupa-kafka-unknown-key-%d":{"a":[1,"x",null]}}`, f.objects)
	return []byte(b.String())
}

func (f *filler) value(vp *valuePlan, depth int) []byte {
	f.n++
	switch vp.kind {
	case kLong:
		return fmt.Appendf(nil, "%d", 1000+f.n)
	case kBool:
		return []byte("true")
	case kDouble:
		return []byte("12.5")
	case kString:
		return fmt.Appendf(nil, `"text %d é \u00e9 \"q\""`, f.n)
	case kDatetime:
		return []byte(`"2024-02-29T23:59:58.123-07:00"`)
	case kDecimal:
		// The widest value the type holds: all precision digits, scale
		// of them fractional.
		digits := strings.Repeat("9", vp.precision)
		if vp.scale == 0 {
			return fmt.Appendf(nil, `"-%s"`, digits)
		}
		return fmt.Appendf(nil, `"-%s.%s"`, digits[:vp.precision-vp.scale], digits[vp.precision-vp.scale:])
	case kJSON:
		return []byte(`{"type":"User","id":7,"login":"jdoe"}`)
	case kJSONMap:
		return []byte(`{"cost-centre":"CC-1","flag":true,"n":1.50,"o":{"x":null}}`)
	case kRecord:
		if depth > 8 {
			return []byte("null")
		}
		return f.record(vp.rec, depth+1)
	case kArray:
		a := f.value(vp.items, depth)
		b := f.value(vp.items, depth)
		return []byte("[" + string(a) + "," + string(b) + "]")
	}
	panic(fmt.Sprintf("kind %d", vp.kind))
}
