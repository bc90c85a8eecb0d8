package openapi_test

import (
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
)

// The property counts are the R39 inventories stated in Coupa's files; a
// re-extraction that lost or invented properties changes them.
func TestEveryTableDefinitionLoads(t *testing.T) {
	want := map[string]int{
		"invoices": 184, "contracts": 108, "users": 101, "suppliers": 97,
		"purchase_orders": 46, "requisitions": 41, "expense_reports": 41, "approvals": 23,
	}
	for _, tb := range coupa.DefaultTables {
		doc, err := openapi.Load(tb.OpenAPIFile)
		if err != nil {
			t.Fatal(err)
		}
		def, err := doc.Definition(tb.Definition)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(def.Properties); got != want[tb.Name] {
			t.Errorf("%s: %d properties, want %d", tb.Name, got, want[tb.Name])
		}
		for _, key := range []string{"id", "created-at", "updated-at"} {
			if _, ok := def.Property(key); !ok {
				t.Errorf("%s: no %q", tb.Name, key)
			}
		}
		if tb.Lines != "" {
			p, ok := def.Property(tb.Lines)
			if !ok || !p.IsArrayOfObjects() {
				t.Errorf("%s: %q is not an array of objects", tb.Name, tb.Lines)
			} else if _, err := doc.Definition(p.Items.Ref); err != nil {
				t.Errorf("%s: lines: %v", tb.Name, err)
			}
		}
	}
}
