package coupatest

import (
	"testing"
	"time"
)

// BenchmarkRenderInvoices measures rendering alone: 50 invoices with lines.
func BenchmarkRenderInvoices(b *testing.B) {
	s, err := New(Config{Seed: 1, UTCOffset: -7 * time.Hour, Records: map[string]int{"invoices": 1000}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t := s.tables["invoices"]
	page := t.recs[:50]
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, st := range page {
			c := rctx{id: st.id, version: st.version, created: st.created, updated: st.updated}
			buf = s.render.record(buf, t.plan, &c, nil, modeFull)
		}
	}
	b.SetBytes(int64(len(buf)))
}
