// Command bench measures coupa-kafka's producer (issue 7): how well it uses
// Coupa's rate budget, what it costs in CPU next to bare JSON decoding, and
// how much memory it needs as tables grow. See BENCHMARKS.md for the method
// and the figures.
//
//	go run ./bench                       # all three scenarios, full sizes (several minutes)
//	go run ./bench -scenario rate        # rate|cpu|memory|freshness|catalog|all
//	go run ./bench -quick                # small sizes, a smoke run in seconds
//	go run ./bench -json results.json    # also write every figure as JSON
//
// The simulated Coupa instance, the Kafka broker (kfake) and the schema
// registry (srfake) run in this process; the producer under measurement runs
// in a fresh child process (this binary re-executed), wired like
// cmd/coupa-kafka, and reaches them over loopback. The child's CPU time and
// peak RSS are therefore the producer's own.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	cfg := defaultConfig()
	cfg.flags(flag.CommandLine)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, cfg, os.Stdout)
	if cfg.JSONOut != "" && rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := os.WriteFile(cfg.JSONOut, b, 0o644); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config holds the flags.
type config struct {
	Scenario    string
	Quick       bool
	Records     int // overrides the main size of every scenario
	RateInv     int
	RateOthers  int
	Latency     time.Duration
	Jitter      time.Duration
	Budget      float64
	Burst       int
	SimRate     float64
	SimBurst    int
	CPURecords  int
	MemSizes    string
	LineTopics  bool // the producer also writes line topics, as the CLI does by default
	MemLines    int  // memory scenario: lines per invoice (0: the simulator's mix)
	Seed        int64
	JSONOut     string
	ProfileDir  string
	Timeout     time.Duration
	Unthrottled float64 // client budget where the simulator has no limit
	// The freshness scenario: records of each of the 8 tables, the
	// measured window and the changes per second in it.
	FreshRecords  int
	FreshWindow   time.Duration
	FreshRate     float64
	FreshSettings string // comma list of freshSettings names
	// The catalog scenario: records of every catalog table in the idle
	// pass measurement; invoices (the backfill) and records of each other
	// table in the backfill measurement, its window and changes per second.
	CatalogRecords  int
	CatalogInvoices int
	CatalogOthers   int
	CatalogWindow   time.Duration
	CatalogRate     float64
}

func defaultConfig() config {
	return config{
		Scenario: "all", RateInv: 20_000, RateOthers: 2_000,
		Latency: 200 * time.Millisecond, Jitter: 50 * time.Millisecond,
		Budget: 25, Burst: 10, SimRate: 25, SimBurst: 20,
		CPURecords: 200_000, MemSizes: "250000,1000000", LineTopics: true, Seed: 1,
		Timeout: time.Hour, Unthrottled: 100_000,
		FreshRecords: 1_500, FreshWindow: 3 * time.Minute, FreshRate: 1, FreshSettings: "defaults,eager,frugal",
		CatalogRecords: 60, CatalogInvoices: 1_000_000, CatalogOthers: 1_500, CatalogWindow: 3 * time.Minute, CatalogRate: 1,
	}
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Scenario, "scenario", c.Scenario, "rate|cpu|memory|freshness|catalog|all")
	fs.BoolVar(&c.Quick, "quick", c.Quick, "small sizes and 20 ms latency: a smoke run in seconds")
	fs.IntVar(&c.Records, "records", 0, "override sizes: rate invoices, cpu invoices and the largest memory size (the smaller is a quarter)")
	fs.IntVar(&c.RateInv, "rate-invoices", c.RateInv, "rate scenario: invoices")
	fs.IntVar(&c.RateOthers, "rate-others", c.RateOthers, "rate scenario (b): records of each other table")
	fs.DurationVar(&c.Latency, "latency", c.Latency, "rate scenario: simulated answer latency (mean)")
	fs.DurationVar(&c.Jitter, "jitter", c.Jitter, "rate scenario: latency jitter (uniform +/-)")
	fs.Float64Var(&c.Budget, "budget", c.Budget, "rate scenario: the client's budget (coupa.Config.RateLimit), requests/s")
	fs.IntVar(&c.Burst, "burst", c.Burst, "rate scenario: the client's burst (coupa.Config.Burst; 10 is its default)")
	fs.Float64Var(&c.SimRate, "sim-rate", c.SimRate, "rate scenario: the simulator's leaky bucket drain, requests/s")
	fs.IntVar(&c.SimBurst, "sim-burst", c.SimBurst, "rate scenario: the simulator's leaky bucket capacity")
	fs.IntVar(&c.CPURecords, "cpu-records", c.CPURecords, "cpu scenario: invoices")
	fs.StringVar(&c.MemSizes, "mem-sizes", c.MemSizes, "memory scenario: comma list of invoice counts")
	fs.IntVar(&c.MemLines, "mem-lines", c.MemLines, "memory scenario: lines per invoice (0: the simulator's 1-8, 2.6 on average)")
	fs.BoolVar(&c.LineTopics, "line-topics", c.LineTopics, "also publish line topics, as the CLI does by default (false: table topics only, as before line topics)")
	fs.IntVar(&c.FreshRecords, "fresh-records", c.FreshRecords, "freshness scenario: records of each of the 8 tables")
	fs.DurationVar(&c.FreshWindow, "fresh-window", c.FreshWindow, "freshness scenario: how long changes are made and measured, per setting")
	fs.Float64Var(&c.FreshRate, "fresh-rate", c.FreshRate, "freshness scenario: changes per second (Poisson)")
	fs.StringVar(&c.FreshSettings, "fresh-settings", c.FreshSettings, "freshness scenario: comma list of polling settings to measure (defaults, eager, frugal)")
	fs.IntVar(&c.CatalogRecords, "catalog-records", c.CatalogRecords, "catalog scenario (idle pass): records of every catalog table")
	fs.IntVar(&c.CatalogInvoices, "catalog-invoices", c.CatalogInvoices, "catalog scenario (backfill): invoices, the table backfilled while the others are measured")
	fs.IntVar(&c.CatalogOthers, "catalog-others", c.CatalogOthers, "catalog scenario (backfill): records of each other table (and of invoices in the baseline)")
	fs.DurationVar(&c.CatalogWindow, "catalog-window", c.CatalogWindow, "catalog scenario (backfill): how long changes are made and measured, per run")
	fs.Float64Var(&c.CatalogRate, "catalog-rate", c.CatalogRate, "catalog scenario (backfill): changes per second (Poisson) to the tables other than invoices")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "simulator seed")
	fs.StringVar(&c.JSONOut, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.ProfileDir, "profile", "", "write CPU and heap profiles of each producer child into this directory")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound of each producer run")
}

func (c *config) resolve() error {
	if c.Quick {
		c.RateInv, c.RateOthers = 600, 60
		c.Latency, c.Jitter = 20*time.Millisecond, 5*time.Millisecond
		c.CPURecords = 3_000
		c.MemSizes = "1000,4000"
		c.FreshRecords, c.FreshWindow, c.FreshRate, c.FreshSettings = 60, 6*time.Second, 3, "defaults"
		c.CatalogInvoices, c.CatalogOthers, c.CatalogWindow, c.CatalogRate = 20_000, 200, 10*time.Second, 3
	}
	if c.Records > 0 {
		c.RateInv, c.CPURecords = c.Records, c.Records
		c.MemSizes = fmt.Sprintf("%d,%d", max(c.Records/4, 1), c.Records)
	}
	switch c.Scenario {
	case "rate", "cpu", "memory", "freshness", "catalog", "all":
	default:
		return fmt.Errorf("-scenario %q: want rate, cpu, memory, freshness, catalog or all", c.Scenario)
	}
	return nil
}

func (c *config) memSizes() ([]int, error) {
	var out []int
	for _, f := range strings.Split(c.MemSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-mem-sizes %q: %v", c.MemSizes, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// report is everything one run measured.
type report struct {
	Started   time.Time
	Machine   machine
	Config    config
	Rate      []rateResult      `json:",omitempty"`
	CPU       *cpuResult        `json:",omitempty"`
	Memory    []memoryResult    `json:",omitempty"`
	Freshness []freshnessResult `json:",omitempty"`
	Catalog   *catalogResult    `json:",omitempty"`
	Finished  time.Time
	LoadAfter string
}

type machine struct {
	GoVersion  string
	GOOS       string
	GOARCH     string
	NumCPU     int
	GOMAXPROCS int
	CPUModel   string
	MemTotal   string
	Load       string
}

func run(ctx context.Context, cfg config, out io.Writer) (*report, error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	rep := &report{Started: time.Now(), Config: cfg, Machine: describeMachine()}
	fmt.Fprintf(out, "coupa-kafka bench: %s/%s, %d CPUs (%s), Go %s, load %s\n\n",
		rep.Machine.GOOS, rep.Machine.GOARCH, rep.Machine.NumCPU, rep.Machine.CPUModel, rep.Machine.GoVersion, rep.Machine.Load)
	all := cfg.Scenario == "all"
	if all || cfg.Scenario == "rate" {
		for _, v := range []string{"a", "b"} {
			r, err := runRate(ctx, cfg, v)
			if err != nil {
				return rep, fmt.Errorf("rate (%s): %w", v, err)
			}
			rep.Rate = append(rep.Rate, r)
			r.print(out)
		}
	}
	if all || cfg.Scenario == "cpu" {
		r, err := runCPU(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("cpu: %w", err)
		}
		rep.CPU = &r
		r.print(out)
	}
	if all || cfg.Scenario == "memory" {
		sizes, err := cfg.memSizes()
		if err != nil {
			return rep, err
		}
		for _, n := range sizes {
			r, err := runMemory(ctx, cfg, n)
			if err != nil {
				return rep, fmt.Errorf("memory (%d): %w", n, err)
			}
			rep.Memory = append(rep.Memory, r)
		}
		printMemory(out, rep.Memory)
	}
	if all || cfg.Scenario == "freshness" {
		sets, err := selectFreshSettings(cfg.FreshSettings)
		if err != nil {
			return rep, err
		}
		for _, set := range sets {
			r, err := runFreshness(ctx, cfg, set)
			if err != nil {
				return rep, fmt.Errorf("freshness (%s): %w", set.Name, err)
			}
			rep.Freshness = append(rep.Freshness, r)
			r.print(out)
		}
	}
	if all || cfg.Scenario == "catalog" {
		r, err := runCatalog(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("catalog: %w", err)
		}
		rep.Catalog = &r
		r.print(out)
	}
	rep.Finished = time.Now()
	rep.LoadAfter = loadavg()
	fmt.Fprintf(out, "finished in %s, load %s\n", rep.Finished.Sub(rep.Started).Round(time.Second), rep.LoadAfter)
	return rep, nil
}

func (c *config) childSpec(w *world, name string) childSpec {
	s := w.spec()
	s.Timeout = c.Timeout
	s.LineTopics = c.LineTopics
	if c.ProfileDir != "" {
		os.MkdirAll(c.ProfileDir, 0o755)
		s.CPUProfile = c.ProfileDir + "/" + name + ".cpu.pprof"
		s.HeapProfile = c.ProfileDir + "/" + name + ".heap.pprof"
	}
	return s
}

func checkPublished(res childResult, w *world) error {
	if want := w.total(); res.Published != want {
		return fmt.Errorf("published %d records, the instance has %d", res.Published, want)
	}
	return nil
}

// ---- 1. rate-bound ----

type rateResult struct {
	Variant     string
	Tables      int
	Records     int
	MinPages    int
	Wall        time.Duration
	Requests    int64 // coupa.Client.Stats().Total()
	Throttled   int64 // 429s the client saw
	SimRequests int64 // list calls the simulator answered (any status)
	Sim429      int64
	ReqPerSec   float64
	Utilization float64 // MinPages / (wall s * budget)
	Throttle    float64 // Throttled / Requests
	WalkCalls   map[string]int
	Child       childResult
}

func runRate(ctx context.Context, cfg config, variant string) (rateResult, error) {
	records := map[string]int{"invoices": cfg.RateInv}
	if variant == "b" {
		for _, t := range coupa.DefaultTables {
			if t.Name != "invoices" {
				records[t.Name] = cfg.RateOthers
			}
		}
	}
	w, err := limitedWorld(cfg, records)
	if err != nil {
		return rateResult{}, err
	}
	defer w.close()
	spec := cfg.childSpec(w, "rate-"+variant)
	spec.RateLimit, spec.Burst = cfg.Budget, cfg.Burst
	res, err := runProducer(ctx, spec, w.sim.ResetStats, nil)
	if err != nil {
		return rateResult{}, err
	}
	if err := checkPublished(res, w); err != nil {
		return rateResult{}, err
	}
	st := w.sim.Stats()
	r := rateResult{Variant: variant, Tables: len(w.tables()), Records: w.total(), MinPages: w.minPages(),
		Wall: res.Wall, Requests: res.Requests, Throttled: res.Throttled, Sim429: st.Throttled, WalkCalls: res.Walk, Child: res}
	for _, t := range w.tables() {
		r.SimRequests += st.Total(t, 0)
	}
	secs := res.Wall.Seconds()
	r.ReqPerSec = float64(r.Requests) / secs
	r.Utilization = float64(r.MinPages) / (secs * cfg.Budget)
	if r.Requests > 0 {
		r.Throttle = float64(r.Throttled) / float64(r.Requests)
	}
	return r, nil
}

func (r rateResult) print(out io.Writer) {
	what := "one table"
	if r.Variant == "b" {
		what = "all 8 tables"
	}
	fmt.Fprintf(out, "1(%s) rate-bound, %s, %d records, min pages %d\n", r.Variant, what, r.Records, r.MinPages)
	fmt.Fprintf(out, "     wall %.1f s   requests %d (%.1f/s)   429s %d (%.2f%%)   utilization %.3f   [target >= 0.95, < 1%% 429]\n",
		r.Wall.Seconds(), r.Requests, r.ReqPerSec, r.Throttled, 100*r.Throttle, r.Utilization)
	fmt.Fprintf(out, "     simulator: %d list calls answered, %d of them 429; list calls per table walk: %v\n\n", r.SimRequests, r.Sim429, r.WalkCalls)
}

// ---- 2. CPU-bound ----

type cpuResult struct {
	Records        int
	Wall           time.Duration
	RecordsPerSec  float64
	ProducerCPU    time.Duration // child user+sys during Sync
	ProducerUser   time.Duration
	ProducerSys    time.Duration
	WorldCPU       time.Duration // this process (simulator + kfake + srfake) during the child's Sync
	RecordsServed  int64         // records the simulator put in list answers (re-reads included)
	ListCalls      int64
	Baseline       baseline
	ProducerPer100 time.Duration
	WorldPer100    time.Duration
	DecodePer100   time.Duration
	RenderPer100   time.Duration
	// Ratios to bare decoding.
	RatioProducer    float64 // producer process only (the pipeline: HTTP+TLS client, decode, Avro, Kafka client)
	RatioAll         float64 // producer + simulator + broker: everything, as if in one process
	RatioAllNoRender float64 // the same without the simulator's rendering (measured separately)
	Child            childResult
}

func runCPU(ctx context.Context, cfg config) (cpuResult, error) {
	w, err := newWorld(worldConfig{records: map[string]int{"invoices": cfg.CPURecords}, seed: cfg.Seed, blackhole: true})
	if err != nil {
		return cpuResult{}, err
	}
	defer w.close()
	spec := cfg.childSpec(w, "cpu")
	spec.RateLimit, spec.Burst = cfg.Unthrottled, 100
	var wu0, ws0, wu1, ws1 time.Duration
	res, err := runProducer(ctx, spec,
		func() { w.sim.ResetStats(); wu0, ws0 = rusage() },
		func() { wu1, ws1 = rusage() })
	if err != nil {
		return cpuResult{}, err
	}
	if err := checkPublished(res, w); err != nil {
		return cpuResult{}, err
	}
	st := w.sim.Stats()
	r := cpuResult{Records: res.Published, Wall: res.Wall, ProducerUser: res.UserCPU, ProducerSys: res.SysCPU,
		ProducerCPU: res.UserCPU + res.SysCPU, WorldCPU: (wu1 - wu0) + (ws1 - ws0),
		RecordsServed: st.Records, ListCalls: st.Total("invoices", 0), Child: res}
	r.RecordsPerSec = float64(r.Records) / res.Wall.Seconds()
	b, err := measureBaseline(w.sim, "invoices")
	if err != nil {
		return r, fmt.Errorf("baseline: %w", err)
	}
	r.Baseline = b
	per100 := func(d time.Duration, n int) time.Duration { return time.Duration(float64(d) * 100_000 / float64(n)) }
	r.ProducerPer100 = per100(r.ProducerCPU, r.Records)
	r.WorldPer100 = per100(r.WorldCPU, r.Records)
	r.DecodePer100 = per100(b.DecodeCPU, b.Records)
	r.RenderPer100 = per100(b.RenderCPU, b.Records)
	dec := float64(r.DecodePer100)
	r.RatioProducer = float64(r.ProducerPer100) / dec
	r.RatioAll = float64(r.ProducerPer100+r.WorldPer100) / dec
	r.RatioAllNoRender = float64(r.ProducerPer100+r.WorldPer100-r.RenderPer100) / dec
	return r, nil
}

func (r cpuResult) print(out io.Writer) {
	fmt.Fprintf(out, "2 CPU-bound, %d invoices, no latency or limit, kfake (blackhole)\n", r.Records)
	fmt.Fprintf(out, "     wall %.1f s   %.0f records/s   list calls %d   records served %d (%.2fx the table)\n",
		r.Wall.Seconds(), r.RecordsPerSec, r.ListCalls, r.RecordsServed, float64(r.RecordsServed)/float64(r.Records))
	fmt.Fprintf(out, "     CPU s per 100k records: producer %.2f (user %.2f sys %.2f)   simulator+broker %.2f (of which rendering %.2f)\n",
		r.ProducerPer100.Seconds(), r.ProducerUser.Seconds()*1e5/float64(r.Records), r.ProducerSys.Seconds()*1e5/float64(r.Records),
		r.WorldPer100.Seconds(), r.RenderPer100.Seconds())
	fmt.Fprintf(out, "     bare encoding/json decode of the same %d pages (%.0f MB): %.2f CPU s per 100k records\n",
		r.Baseline.Pages, float64(r.Baseline.JSONBytes)/1e6, r.DecodePer100.Seconds())
	fmt.Fprintf(out, "     ratio to bare decode: producer %.2fx   all-in %.2fx   all-in without rendering %.2fx   [target <= 3x]\n\n",
		r.RatioProducer, r.RatioAll, r.RatioAllNoRender)
}

// ---- 3. memory ----

type memoryResult struct {
	Records       int
	Lines         int // per invoice; 0: the simulator's mix
	Wall          time.Duration
	RecordsPerSec float64
	VmHWMMB       float64
	PeakHeapMB    float64
	PeakGoMB      float64
	CPU           time.Duration
	Child         childResult
}

func runMemory(ctx context.Context, cfg config, n int) (memoryResult, error) {
	w, err := newWorld(worldConfig{records: map[string]int{"invoices": n}, seed: cfg.Seed, blackhole: true, lines: cfg.MemLines})
	if err != nil {
		return memoryResult{}, err
	}
	defer w.close()
	spec := cfg.childSpec(w, fmt.Sprintf("memory-%d", n))
	spec.RateLimit, spec.Burst = cfg.Unthrottled, 100
	res, err := runProducer(ctx, spec, nil, nil)
	if err != nil {
		return memoryResult{}, err
	}
	if err := checkPublished(res, w); err != nil {
		return memoryResult{}, err
	}
	return memoryResult{Records: n, Lines: cfg.MemLines, Wall: res.Wall, RecordsPerSec: float64(res.Published) / res.Wall.Seconds(),
		VmHWMMB: float64(res.VmHWMKB) / 1024, PeakHeapMB: res.PeakHeapMB, PeakGoMB: res.PeakGoMB,
		CPU: res.UserCPU + res.SysCPU, Child: res}, nil
}

func printMemory(out io.Writer, rs []memoryResult) {
	fmt.Fprintf(out, "3 memory, invoices, producer alone in a fresh process (simulator and blackhole kfake in the parent)\n")
	if len(rs) > 0 && rs[0].Lines > 0 {
		fmt.Fprintf(out, "     %d lines per invoice\n", rs[0].Lines)
	}
	for _, r := range rs {
		fmt.Fprintf(out, "     %8d records: peak RSS (VmHWM) %.0f MB   peak heap objects %.0f MB   peak Go-mapped %.0f MB   wall %.1f s (%.0f records/s)\n",
			r.Records, r.VmHWMMB, r.PeakHeapMB, r.PeakGoMB, r.Wall.Seconds(), r.RecordsPerSec)
	}
	if len(rs) >= 2 {
		lo, hi := rs[0], rs[len(rs)-1]
		fmt.Fprintf(out, "     peak RSS %d -> %d records: x%.2f   [target < 256 MB, flat within 20%%]\n", lo.Records, hi.Records, hi.VmHWMMB/lo.VmHWMMB)
	}
	fmt.Fprintln(out)
}

// ---- machine ----

func describeMachine() machine {
	m := machine{GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Load: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
