package avscgen

import (
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
)

// Each OpenAPI type/format maps to one Avro type.
func TestScalarMapping(t *testing.T) {
	cases := []struct {
		typ, format string
		want        string
		isJSON      bool
	}{
		{"integer", "integer", `"long"`, false},
		{"boolean", "boolean", `"boolean"`, false},
		{"string", "string(255)", `"string"`, false},
		{"string", "text", `"string"`, false},
		{"string", "date", `"string"`, false},
		{"string", "int", `"string"`, false},
		{"string", "", `"string"`, false},
		{"string", "datetime", `{"type": "long", "logicalType": "timestamp-millis"}`, false},
		{"number", "decimal(30,4)", `{"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 4}`, false},
		{"number", "decimal(10,0)", `{"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 0}`, false},
		{"number", "decimal(46,20)", `{"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 20}`, false},
		{"number", "decimal", `{"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 10}`, false},
		{"number", "float", `"double"`, false},
		{"", "", `"string"`, true},
	}
	for _, c := range cases {
		got, isJSON, err := scalar(openapi.Property{Type: c.typ, Format: c.format})
		if err != nil {
			t.Errorf("%s/%s: %v", c.typ, c.format, err)
			continue
		}
		var b strings.Builder
		writeCompact(&b, got)
		if b.String() != c.want || isJSON != c.isJSON {
			t.Errorf("%s/%s -> %s (json %v), want %s (json %v)", c.typ, c.format, b.String(), isJSON, c.want, c.isJSON)
		}
	}
	for _, bad := range []openapi.Property{{Type: "number", Format: "money"}, {Type: "number", Format: "decimal(50,45)"}, {Type: "object"}} {
		if _, _, err := scalar(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestAvroName(t *testing.T) {
	for key, want := range map[string]string{
		"created-at":            "created_at",
		"active?":               "active_q",
		"supplier-invoiceable?": "supplier_invoiceable_q",
		"1099-eligible":         "_1099_eligible",
		"a.b":                   "a_x2eb",
		"café":                  "caf_xe9",
		"already_snake":         "already_snake",
		"":                      "_",
	} {
		if got := AvroName(key); got != want {
			t.Errorf("AvroName(%q) = %q, want %q", key, got, want)
		}
	}
}

// Two keys that map to one field name fail generation instead of one of
// them being renamed by accident of order.
func TestNameCollisionFails(t *testing.T) {
	g := &gen{defined: map[string]string{}, ns: "coupa.t"}
	def := &openapi.Definition{Name: "X", Properties: []openapi.Property{
		{Name: "foo-bar", Type: "string"}, {Name: "foo_bar", Type: "string"}, {Name: "id", Type: "integer"},
	}}
	if _, err := g.record(def, "coupa.X", "doc", levelTop, ""); err == nil || !strings.Contains(err.Error(), "both map") {
		t.Errorf("err = %v", err)
	}
}

// Hyphenated definition names ("Payables-Invoice") lose their '-' in Avro
// names; two definitions that then claim one record name fail generation
// instead of one silently standing in for the other, and a definition
// referenced twice is defined once and reused by name.
func TestRecordNameCollisionFails(t *testing.T) {
	ref := func(key, def string) openapi.Property { return openapi.Property{Name: key, Ref: def} }
	ident := []openapi.Property{{Name: "id", Type: "integer"}, {Name: "number", Type: "string"}}
	doc := &openapi.Doc{File: "x.json", Definitions: map[string]*openapi.Definition{
		"Payables-Invoice": {Name: "Payables-Invoice", Properties: ident},
		"PayablesInvoice":  {Name: "PayablesInvoice", Properties: ident},
	}}
	top := func(props ...openapi.Property) *openapi.Definition {
		return &openapi.Definition{Name: "Top", Properties: append([]openapi.Property{{Name: "id", Type: "integer"}}, props...)}
	}
	g := &gen{doc: doc, defined: map[string]string{}, ns: "coupa.top"}
	rec, err := g.record(top(ref("a", "Payables-Invoice"), ref("b", "Payables-Invoice")), "coupa.Top", "doc", levelTop, "")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	write(&b, rec, 0)
	if n := strings.Count(b.String(), `"name": "coupa.top.PayablesInvoice"`); n != 1 {
		t.Errorf("coupa.top.PayablesInvoice defined %d times, want once:\n%s", n, b.String())
	}
	if !strings.Contains(b.String(), `"type": ["null", "coupa.top.PayablesInvoice"]`) {
		t.Errorf("the second reference does not reuse the record by name:\n%s", b.String())
	}
	g = &gen{doc: doc, defined: map[string]string{}, ns: "coupa.top"}
	_, err = g.record(top(ref("a", "Payables-Invoice"), ref("b", "PayablesInvoice")), "coupa.Top", "doc", levelTop, "")
	if err == nil || !strings.Contains(err.Error(), "both map to Avro record coupa.top.PayablesInvoice") {
		t.Errorf("err = %v", err)
	}
}
