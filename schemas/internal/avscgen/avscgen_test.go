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
	g := &gen{defined: map[string]bool{}, ns: "coupa.t"}
	def := &openapi.Definition{Name: "X", Properties: []openapi.Property{
		{Name: "foo-bar", Type: "string"}, {Name: "foo_bar", Type: "string"}, {Name: "id", Type: "integer"},
	}}
	if _, err := g.record(def, "coupa.X", "doc", levelTop, ""); err == nil || !strings.Contains(err.Error(), "both map") {
		t.Errorf("err = %v", err)
	}
}
