package main

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// TestMain lets the test binary serve as the producer child too: runProducer
// re-executes os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// TestQuick runs every scenario at smoke-test sizes, so the benchmark keeps
// working as the producer changes. It checks that each run completes and
// publishes every record, not the targets.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several producer processes and the catalog scenario (about 80 s; longer with -race)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := defaultConfig()
	cfg.Quick = true
	if raceEnabled {
		// Smaller still: about 1,500 records in all.
		cfg.Quick = false
		cfg.RateInv, cfg.RateOthers = 150, 10
		cfg.Latency, cfg.Jitter = 5*time.Millisecond, time.Millisecond
		cfg.CPURecords, cfg.MemSizes = 300, "100,400"
		cfg.FreshRecords, cfg.FreshWindow, cfg.FreshRate, cfg.FreshSettings = 20, 4*time.Second, 3, "defaults"
		cfg.CatalogRecords, cfg.CatalogInvoices, cfg.CatalogOthers, cfg.CatalogWindow, cfg.CatalogRate = 20, 3_000, 20, 4*time.Second, 3
	}
	var out io.Writer = io.Discard
	if testing.Verbose() {
		out = os.Stdout
	}
	rep, err := run(ctx, cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rate) != 2 || rep.CPU == nil || len(rep.Memory) != 2 || len(rep.Freshness) != 1 || rep.Catalog == nil {
		t.Fatalf("incomplete report: %d rate, cpu %v, %d memory, %d freshness, catalog %v",
			len(rep.Rate), rep.CPU != nil, len(rep.Memory), len(rep.Freshness), rep.Catalog != nil)
	}
	if f := rep.Freshness[0]; f.Versions == 0 || f.Seen+f.Superseded != f.Versions || f.Missed != 0 || f.Requests == 0 {
		t.Errorf("freshness: %d versions made, %d seen, %d superseded, %d missed, %d requests", f.Versions, f.Seen, f.Superseded, f.Missed, f.Requests)
	}
	for _, r := range rep.Rate {
		if r.Utilization <= 0 || r.Requests < int64(r.MinPages) {
			t.Errorf("rate %s: utilization %.3f with %d requests for %d pages", r.Variant, r.Utilization, r.Requests, r.MinPages)
		}
	}
	if c := rep.CPU; c.ProducerCPU <= 0 || c.Baseline.DecodeCPU <= 0 || c.Baseline.Records != c.Records {
		t.Errorf("cpu: producer %s, decode %s of %d records (published %d)", c.ProducerCPU, c.Baseline.DecodeCPU, c.Baseline.Records, c.Records)
	}
	if i := rep.Catalog.Idle; i.Tables != len(coupa.Catalog) || i.BackfillPublished != i.Records || i.Published != 0 ||
		i.Requests < int64(i.Tables) || i.ReqPerSec <= 0 {
		t.Errorf("catalog idle pass: %d tables, backfill published %d of %d records, idle sync %d requests and %d published, %.3f req/s",
			i.Tables, i.BackfillPublished, i.Records, i.Requests, i.Published, i.ReqPerSec)
	}
	for _, l := range []catalogLatencyResult{rep.Catalog.Baseline, rep.Catalog.Backfill} {
		if l.Versions == 0 || l.Seen+l.Superseded != l.Versions || l.Missed != 0 {
			t.Errorf("catalog %s: %d versions made, %d seen, %d superseded, %d missed", l.Run, l.Versions, l.Seen, l.Superseded, l.Missed)
		}
	}
	for _, m := range rep.Memory {
		if m.VmHWMMB <= 0 {
			t.Errorf("memory %d: no peak RSS", m.Records)
		}
	}
}
