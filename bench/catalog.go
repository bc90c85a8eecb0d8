package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// ---- 5. the catalog ----
//
// What syncing the whole catalog (coupa.Catalog) costs, and whether one
// table's long backfill holds the others back (issue 12). The producer runs
// in this process, as in the freshness scenario, with line topics on as
// the CLI has them.
//
// (a) Idle pass cost. Every catalog table has CatalogRecords records (the
// full refresh tables too). One Sync backfills them all; a second Sync of
// the unchanged instance then costs what one idle pass of every table
// costs: its Coupa requests, by table and by kind, and nothing published.
// With each table polling at its default ceiling (Poll.forTable: a document
// table producer.DefaultPollMax, any other coupa.Table.DefaultPollInterval)
// that gives the steady-state request rate of `run` on an idle instance.
//
// (b) Backfill interference. invoices has CatalogInvoices records; the
// other seven default tables and catalogReferenceTables CatalogOthers each.
// `run` starts with the default Poll; once every table but invoices has
// finished its first pass (invoices' first pass is the backfill, still
// going on), the others change at about CatalogRate versions a second for
// CatalogWindow and a consumer records when each version arrives. The same
// measurement with invoices as small as the others and synced first is the
// baseline. The claim checked: the backfill delays no other table's
// changes by more than one poll interval (catalogStarveBound) beyond the
// baseline.

// catalogReferenceTables are the reference tables of the backfill
// measurement, next to the eight default (document) tables.
var catalogReferenceTables = []string{"accounts", "exchange_rates", "lookup_values"}

// catalogStarveBound is the delay a backfill may add to another table's
// changes: one poll interval of a document table.
const catalogStarveBound = producer.DefaultPollMax

type catalogResult struct {
	Idle     catalogIdleResult
	Baseline catalogLatencyResult
	Backfill catalogLatencyResult
	// P95Delta and MaxDelta are Backfill's latency minus Baseline's.
	P95Delta time.Duration
	MaxDelta time.Duration
	// Bound is Baseline.Max + catalogStarveBound. Holds says the backfill
	// was still running at the end of the window, no version was missed
	// and Backfill.Max stayed below Bound.
	Bound time.Duration
	Holds bool
}

// catalogKindCost is the idle cost of one kind of table.
type catalogKindCost struct {
	Kind     string // document incremental, reference incremental, full refresh
	Tables   int
	Requests int64         // one idle pass of each table of the kind
	Ceiling  time.Duration // the kind's default polling ceiling
	// Steady state, every table of the kind polling at its ceiling.
	PassesPerSec float64
	ReqPerSec    float64
	ReqPerHour   float64
}

type catalogIdleResult struct {
	Tables            int
	RecordsPerTable   int
	Records           int
	BackfillWall      time.Duration
	BackfillRequests  int64
	BackfillPublished int
	// The second Sync, of the unchanged instance.
	Wall      time.Duration
	Requests  int64
	Throttled int64
	Published int // must be 0
	Kinds     []catalogKindCost
	// PerTable is the second Sync's requests by table; a line list's
	// requests (the line watch) count for its parent table.
	PerTable map[string]int64
	// Steady state of `run` on an idle instance, every table polling at
	// its default ceiling, and the pass budget of the default Poll.
	PassesPerSec float64
	ReqPerSec    float64
	ReqPerHour   float64
	PollBudget   float64
}

type catalogLatencyResult struct {
	Run           string // baseline or backfill
	Invoices      int
	Tables        []string // the tables changed: every table but invoices
	OthersRecords int
	// FirstPasses is the time from the start of `run` until every table
	// waited for had finished its first pass.
	FirstPasses  time.Duration
	Window       time.Duration
	ChangeRate   float64
	Versions     int
	Seen         int
	Superseded   int
	Missed       int
	P50          time.Duration
	P95          time.Duration
	Max          time.Duration
	MaxDocument  time.Duration
	MaxReference time.Duration
	// Requests during the window: every table, and invoices alone.
	Requests        int64
	InvoiceRequests int64
	ReqPerSec       float64
	// BackfillRunning: invoices' first pass had not ended at the end of
	// the window; BackfillRunningAfter: nor when the last arrival was in
	// (or given up on). InvoicesPublished were committed by the end of the
	// window.
	BackfillRunning      bool
	BackfillRunningAfter bool
	InvoicesPublished    int
}

func runCatalog(ctx context.Context, cfg config) (catalogResult, error) {
	var r catalogResult
	var err error
	if r.Idle, err = measureCatalogIdle(ctx, cfg); err != nil {
		return r, fmt.Errorf("idle pass: %w", err)
	}
	if r.Baseline, err = measureCatalogLatency(ctx, cfg, false); err != nil {
		return r, fmt.Errorf("baseline: %w", err)
	}
	if r.Backfill, err = measureCatalogLatency(ctx, cfg, true); err != nil {
		return r, fmt.Errorf("backfill: %w", err)
	}
	r.P95Delta = r.Backfill.P95 - r.Baseline.P95
	r.MaxDelta = r.Backfill.Max - r.Baseline.Max
	r.Bound = r.Baseline.Max + catalogStarveBound
	r.Holds = r.Backfill.BackfillRunning && r.Backfill.Missed == 0 && r.Backfill.Max < r.Bound
	return r, nil
}

// costKind names the kind of a table as the idle cost splits it.
func costKind(t coupa.Table) string {
	switch {
	case t.Mode == coupa.FullRefresh:
		return "full refresh"
	case t.Kind == coupa.Reference:
		return "reference incremental"
	}
	return "document incremental"
}

var costKinds = []string{"document incremental", "reference incremental", "full refresh"}

// defaultCeiling is t's polling ceiling under the default Poll, as
// producer.Poll.forTable sets it: Poll.Max for an incremental document
// table, its kind's default otherwise.
func defaultCeiling(t coupa.Table) time.Duration {
	if t.Kind == coupa.Document && t.Mode == coupa.Incremental {
		return producer.DefaultPollMax
	}
	return t.DefaultPollInterval()
}

// catalogTable is the catalog table a request's table name belongs to: the
// table itself, or the parent of a line list (the line watch lists
// "purchase_order_lines" for purchase_orders).
func catalogTable(name string) (coupa.Table, bool) {
	for _, t := range coupa.Catalog {
		if t.Name == name || (t.LineList != "" && t.LineTopic == name) {
			return t, true
		}
	}
	return coupa.Table{}, false
}

// requestsByTable is s's requests by catalog table (line lists under their
// parents), any status.
func requestsByTable(s coupa.Stats) map[string]int64 {
	out := map[string]int64{}
	for name, byStatus := range s.Requests {
		if t, ok := catalogTable(name); ok {
			name = t.Name
		}
		for _, n := range byStatus {
			out[name] += n
		}
	}
	return out
}

func statsDelta(after, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func measureCatalogIdle(ctx context.Context, cfg config) (catalogIdleResult, error) {
	records := map[string]int{}
	for _, t := range coupa.Catalog {
		records[t.Name] = cfg.CatalogRecords
	}
	w, err := limitedWorld(cfg, records)
	if err != nil {
		return catalogIdleResult{}, err
	}
	defer w.close()
	client, prod, err := inProcessProducer(ctx, w, cfg, func(c *producer.Config) { c.LineTopics = true })
	if err != nil {
		return catalogIdleResult{}, err
	}
	defer prod.Close()
	r := catalogIdleResult{Tables: len(w.tables()), RecordsPerTable: cfg.CatalogRecords, Records: w.total(),
		PollBudget: producer.DefaultPollBudget}

	s0, t0 := client.Stats(), time.Now()
	res, err := prod.Sync(ctx)
	if err != nil {
		return r, fmt.Errorf("backfill: %w", err)
	}
	s1 := client.Stats()
	r.BackfillWall, r.BackfillRequests = time.Since(t0), s1.Total()-s0.Total()
	for _, p := range res {
		r.BackfillPublished += p.Published
	}
	// Let the second of the backfill's bound close, so the next pass's
	// bound (the instance's clock minus a second) lies past every record.
	if err := sleepCtx(ctx, time.Until(time.Now().Truncate(time.Second).Add(2*time.Second))); err != nil {
		return r, err
	}

	t1 := time.Now()
	res, err = prod.Sync(ctx)
	if err != nil {
		return r, fmt.Errorf("idle sync: %w", err)
	}
	s2 := client.Stats()
	r.Wall, r.Requests, r.Throttled = time.Since(t1), s2.Total()-s1.Total(), s2.Throttled-s1.Throttled
	for _, p := range res {
		r.Published += p.Published
	}
	r.PerTable = statsDelta(requestsByTable(s2), requestsByTable(s1))

	kinds := map[string]*catalogKindCost{}
	for _, k := range costKinds {
		kinds[k] = &catalogKindCost{Kind: k}
	}
	for _, name := range w.tables() {
		t, err := coupa.LookupTable(name)
		if err != nil {
			return r, err
		}
		k, ceil, n := kinds[costKind(t)], defaultCeiling(t), r.PerTable[name]
		k.Tables++
		k.Requests += n
		k.Ceiling = ceil
		k.PassesPerSec += 1 / ceil.Seconds()
		k.ReqPerSec += float64(n) / ceil.Seconds()
	}
	for _, k := range costKinds {
		c := kinds[k]
		c.ReqPerHour = c.ReqPerSec * 3600
		r.Kinds = append(r.Kinds, *c)
		r.PassesPerSec += c.PassesPerSec
		r.ReqPerSec += c.ReqPerSec
	}
	r.ReqPerHour = r.ReqPerSec * 3600
	return r, nil
}

// runWatch is producer.Run going on in the background, and which tables
// have finished a pass without error.
type runWatch struct {
	mu     sync.Mutex
	passed map[string]bool
	stop   context.CancelFunc
	errc   chan error
	err    error
	ended  bool
}

func startRun(ctx context.Context, prod *producer.Producer, poll producer.Poll) *runWatch {
	runCtx, stop := context.WithCancel(ctx)
	rw := &runWatch{passed: map[string]bool{}, stop: stop, errc: make(chan error, 1)}
	go func() {
		rw.errc <- prod.Run(runCtx, poll, func(r producer.PassResult, err error) {
			if err == nil {
				rw.mu.Lock()
				rw.passed[r.Table] = true
				rw.mu.Unlock()
			}
		})
	}()
	return rw
}

// hasPassed reports whether table has finished a pass.
func (rw *runWatch) hasPassed(table string) bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.passed[table]
}

// waitFor waits until every table of tables has finished a pass.
func (rw *runWatch) waitFor(ctx context.Context, tables []string) error {
	for {
		if !slices.ContainsFunc(tables, func(t string) bool { return !rw.hasPassed(t) }) {
			return nil
		}
		select {
		case err := <-rw.errc:
			rw.ended, rw.err = true, err
			return fmt.Errorf("run ended before the first passes did: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// end stops Run and returns its error.
func (rw *runWatch) end() error {
	rw.stop()
	if !rw.ended {
		rw.ended, rw.err = true, <-rw.errc
	}
	return rw.err
}

// publishedOf reads m's count of records of table published in committed
// transactions.
func publishedOf(m *producer.Metrics, table string) int {
	mfs, err := m.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != "coupa_kafka_records_published_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == table {
					return int(mt.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// measureCatalogLatency runs (b) once: with the invoices backfill
// (CatalogInvoices invoices, not waited for) or without (the baseline:
// CatalogOthers invoices, synced before the window).
func measureCatalogLatency(ctx context.Context, cfg config, backfill bool) (catalogLatencyResult, error) {
	invoices := cfg.CatalogOthers
	if backfill {
		invoices = cfg.CatalogInvoices
	}
	records := map[string]int{"invoices": invoices}
	for _, t := range coupa.DefaultTables {
		if t.Name != "invoices" {
			records[t.Name] = cfg.CatalogOthers
		}
	}
	for _, n := range catalogReferenceTables {
		records[n] = cfg.CatalogOthers
	}
	w, err := limitedWorld(cfg, records)
	if err != nil {
		return catalogLatencyResult{}, err
	}
	defer w.close()
	metrics := producer.NewMetrics()
	client, prod, err := inProcessProducer(ctx, w, cfg, func(c *producer.Config) {
		c.LineTopics, c.Metrics = true, metrics
	})
	if err != nil {
		return catalogLatencyResult{}, err
	}
	defer prod.Close()
	others := slices.DeleteFunc(w.tables(), func(t string) bool { return t == "invoices" })
	r := catalogLatencyResult{Run: "baseline", Invoices: invoices, Tables: others, OthersRecords: cfg.CatalogOthers,
		Window: cfg.CatalogWindow, ChangeRate: cfg.CatalogRate}
	waitFor := w.tables()
	if backfill {
		r.Run, waitFor = "backfill", others
	}

	start := time.Now()
	rw := startRun(ctx, prod, producer.Poll{}) // the defaults
	defer rw.end()
	if err := rw.waitFor(ctx, waitFor); err != nil {
		return r, err
	}
	r.FirstPasses = time.Since(start)

	seen, stopConsumer, err := consumeArrivals(ctx, w, others)
	if err != nil {
		return r, err
	}
	s0 := client.Stats()
	visible := churnRecordingVisibility(ctx, w, others, cfg.CatalogWindow, cfg.CatalogRate, cfg.Seed)
	s1 := client.Stats()
	r.BackfillRunning = !rw.hasPassed("invoices")
	r.InvoicesPublished = publishedOf(metrics, "invoices")
	r.Requests = s1.Total() - s0.Total()
	r.InvoiceRequests = requestsByTable(s1)["invoices"] - requestsByTable(s0)["invoices"]
	r.ReqPerSec = float64(r.Requests) / cfg.CatalogWindow.Seconds()

	// The last changes get a poll interval and a minute more to arrive.
	wait := time.Now().Add(producer.DefaultPollMax + time.Minute)
	latest := latestVersions(w, others)
	for time.Now().Before(wait) && !allArrived(seen, latest, visible) {
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return r, err
		}
	}
	arrivals := stopConsumer()
	r.BackfillRunningAfter = !rw.hasPassed("invoices")
	if err := rw.end(); err != nil {
		return r, fmt.Errorf("run: %w", err)
	}

	r.Versions = len(visible)
	var lat []time.Duration
	for k, v := range visible {
		a, ok := arrivals[k]
		switch {
		case ok:
			r.Seen++
			d := max(a.Sub(v), 0)
			lat = append(lat, d)
			if t, err := coupa.LookupTable(k.table); err == nil && t.Kind == coupa.Reference {
				r.MaxReference = max(r.MaxReference, d)
			} else {
				r.MaxDocument = max(r.MaxDocument, d)
			}
		case latest[k]:
			r.Missed++
		default:
			r.Superseded++
		}
	}
	slices.Sort(lat)
	r.P50, r.P95 = percentile(lat, 0.50), percentile(lat, 0.95)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
	return r, nil
}

func (r catalogResult) print(out io.Writer) {
	i := r.Idle
	fmt.Fprintf(out, "5(a) catalog idle pass, %d tables x %d records (%d), line topics on\n", i.Tables, i.RecordsPerTable, i.Records)
	fmt.Fprintf(out, "     backfill Sync: %.1f s, %d requests, %d records published\n", i.BackfillWall.Seconds(), i.BackfillRequests, i.BackfillPublished)
	fmt.Fprintf(out, "     idle Sync of the unchanged instance: %.1f s, %d requests (%d x 429), %d records published   [must be 0]\n",
		i.Wall.Seconds(), i.Requests, i.Throttled, i.Published)
	fmt.Fprintf(out, "     %-22s %6s %15s %9s %10s %8s %7s\n", "kind", "tables", "idle requests", "ceiling", "passes/s", "req/s", "req/h")
	for _, k := range i.Kinds {
		fmt.Fprintf(out, "     %-22s %6d %15d %9s %10.3f %8.3f %7.0f\n", k.Kind, k.Tables, k.Requests, k.Ceiling, k.PassesPerSec, k.ReqPerSec, k.ReqPerHour)
	}
	fmt.Fprintf(out, "     %-22s %6d %15d %9s %10.3f %8.3f %7.0f\n", "all", i.Tables, i.Requests, "", i.PassesPerSec, i.ReqPerSec, i.ReqPerHour)
	var more []string
	for t, n := range i.PerTable {
		if n != 1 {
			more = append(more, fmt.Sprintf("%s %d", t, n))
		}
	}
	sort.Strings(more)
	if len(more) > 0 {
		fmt.Fprintf(out, "     tables whose idle pass is not one request: %s\n", strings.Join(more, ", "))
	}
	fmt.Fprintf(out, "     steady state of run, assuming every idle table polls at its ceiling: %.3f requests/s, %.0f/hour (%.2f passes/s; the default pass budget is %.2f/s)\n\n",
		i.ReqPerSec, i.ReqPerHour, i.PassesPerSec, i.PollBudget)

	b := r.Backfill
	fmt.Fprintf(out, "5(b) catalog backfill of %d invoices vs the other %d tables x %d records (%s), default poll, %s window, %.1f changes/s\n",
		b.Invoices, len(b.Tables), b.OthersRecords, strings.Join(b.Tables, ","), b.Window, b.ChangeRate)
	for _, l := range []catalogLatencyResult{r.Baseline, r.Backfill} {
		fmt.Fprintf(out, "     %-8s invoices %8d: latency p50 %5.1f s  p95 %5.1f s  max %5.1f s (documents %.1f, reference %.1f)   versions %d: seen %d, superseded %d, missed %d\n",
			l.Run, l.Invoices, l.P50.Seconds(), l.P95.Seconds(), l.Max.Seconds(), l.MaxDocument.Seconds(), l.MaxReference.Seconds(),
			l.Versions, l.Seen, l.Superseded, l.Missed)
		fmt.Fprintf(out, "     %-8s first passes %.1f s   window requests %d (%.1f/s, invoices %d)", "", l.FirstPasses.Seconds(), l.Requests, l.ReqPerSec, l.InvoiceRequests)
		if l.Run == "backfill" {
			fmt.Fprintf(out, "   backfill running at the window's end: %v (%d invoices published), after the last arrival: %v", l.BackfillRunning, l.InvoicesPublished, l.BackfillRunningAfter)
		}
		fmt.Fprintln(out)
	}
	verdict := "holds"
	switch {
	case !b.BackfillRunning:
		verdict = "not tested: the backfill ended before the window did"
	case b.Missed > 0:
		verdict = fmt.Sprintf("does not hold: %d versions never arrived", b.Missed)
	case !r.Holds:
		verdict = "does not hold"
	}
	fmt.Fprintf(out, "     backfill - baseline: p95 %+.1f s, max %+.1f s   max %.1f s < baseline max + %s = %.1f s: %s\n\n",
		r.P95Delta.Seconds(), r.MaxDelta.Seconds(), b.Max.Seconds(), catalogStarveBound, r.Bound.Seconds(), verdict)
}
