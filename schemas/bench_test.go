package schemas

import (
	"encoding/json"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
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

// BenchmarkAppendSimulatorInvoice converts the simulator's invoices (1-8
// lines each, every R39 field rendered), one invoice per op.
func BenchmarkAppendSimulatorInvoice(b *testing.B) {
	raws, size := simulatorInvoices(b)
	tb := mustLoad(b, "invoices")
	b.SetBytes(int64(size / len(raws)))
	b.ReportAllocs()
	var buf []byte
	var err error
	i := 0
	for b.Loop() {
		buf, _, err = tb.Append(buf[:0], raws[i%len(raws)])
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAppendLearnedInvoice converts the simulator's invoices with a
// schema that learned their custom fields and new keys (what the producer
// converts with), and hashes each value as the producer does.
func BenchmarkAppendLearnedInvoice(b *testing.B) {
	raws, size := simulatorInvoices(b)
	tb := mustLoad(b, "invoices")
	for _, raw := range raws {
		next, err := tb.Learn(raw)
		if err != nil {
			b.Fatal(err)
		}
		tb = next
	}
	b.SetBytes(int64(size / len(raws)))
	b.ReportAllocs()
	var buf []byte
	i := 0
	for b.Loop() {
		var st Stats
		var err error
		buf, st, err = tb.AppendStats(buf[:0], raws[i%len(raws)])
		if err != nil || st.Untyped != 0 {
			b.Fatal(err, st)
		}
		if _, err := tb.ContentHash(buf); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUnmarshalSimulatorInvoiceBaseline: encoding/json into
// map[string]any over the same invoices.
func BenchmarkUnmarshalSimulatorInvoiceBaseline(b *testing.B) {
	raws, size := simulatorInvoices(b)
	b.SetBytes(int64(size / len(raws)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(raws[i%len(raws)], &m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// simulatorInvoices returns the default simulator's invoices as JSON and
// their total size.
func simulatorInvoices(b *testing.B) ([][]byte, int) {
	b.Helper()
	srv, err := coupatest.New(coupatest.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var raws [][]byte
	size := 0
	for _, r := range srv.Truth("invoices") {
		raws = append(raws, r.JSON)
		size += len(r.JSON)
	}
	return raws, size
}
