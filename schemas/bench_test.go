package schemas

import (
	"encoding/json"
	"testing"
)

// BenchmarkAppendInvoice converts one realistic invoice (testdata record 0:
// two lines, a full supplier object, approvals, tax lines, custom fields,
// unknown keys) into a reused buffer, the way the producer does.
func BenchmarkAppendInvoice(b *testing.B) {
	tb := mustLoad(b, "invoices")
	raw := []byte(fixtureRecords(b, "invoices")[0])
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		buf, _, err = tb.Append(buf[:0], raw)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalInvoiceBaseline is plain encoding/json decoding of the
// same invoice into map[string]any: the yardstick of the pipeline budget.
func BenchmarkUnmarshalInvoiceBaseline(b *testing.B) {
	raw := []byte(fixtureRecords(b, "invoices")[0])
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
	}
}
