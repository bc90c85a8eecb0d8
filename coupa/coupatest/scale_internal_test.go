package coupatest

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkKeysetPageMillion: a keyset query over a million invoices costs
// O(log n + limit), and the store stays tens of megabytes.
func BenchmarkKeysetPageMillion(b *testing.B) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	s, err := New(Config{Seed: 1, Records: map[string]int{"invoices": 1_000_000}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	build := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t := s.tables["invoices"]
	mid := t.idx[len(t.idx)/2].at
	q, err := parseList(t.plan, "updated_at[gt_or_eq]="+time.Unix(mid, 0).UTC().Format(time.RFC3339)+"&order_by=updated_at&limit=50&fields=%5B%22id%22%5D")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if got := s.selectStates(t, q); len(got) != 50 {
			b.Fatal(len(got))
		}
	}
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/1e6, "MB-heap")
	b.ReportMetric(build.Seconds(), "s-build")
}
