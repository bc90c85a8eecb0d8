package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/producer"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// ---- 4. freshness ----
//
// How long a change takes from the moment the API shows it to the moment a
// read_committed consumer sees it, and what polling costs in requests, in
// steady state: after the first backfill, the simulator changes about
// ChangeRate versions a second (updates, a few inserts, late-visible writes
// and small ties), recording when each became visible; a live consumer of
// every table topic records when each first arrived. The producer runs
// `run` in this process with the Poll under test.

// freshSetting is one polling configuration measured.
type freshSetting struct {
	Name string
	Poll producer.Poll
}

// freshSettings are the settings measured, by name: the defaults and two
// others, one for latency and one for cost.
var freshSettings = []freshSetting{
	{"defaults", producer.Poll{Min: producer.DefaultPollMin, Max: producer.DefaultPollMax, Budget: producer.DefaultPollBudget}},
	{"eager", producer.Poll{Min: time.Second, Max: 5 * time.Second, Budget: 4}},
	{"frugal", producer.Poll{Min: 10 * time.Second, Max: 2 * time.Minute, Budget: 0.2}},
}

// selectFreshSettings returns the settings named in the comma list names.
func selectFreshSettings(names string) ([]freshSetting, error) {
	var out []freshSetting
	for _, n := range strings.Split(names, ",") {
		i := slices.IndexFunc(freshSettings, func(s freshSetting) bool { return s.Name == strings.TrimSpace(n) })
		if i < 0 {
			return nil, fmt.Errorf("-fresh-settings: no setting %q (defaults, eager, frugal)", n)
		}
		out = append(out, freshSettings[i])
	}
	return out, nil
}

type freshnessResult struct {
	Setting    string
	Poll       producer.Poll
	Tables     int
	Records    int // per table
	Window     time.Duration
	ChangeRate float64
	Versions   int // versions made visible in the window
	Seen       int // of them, read by the consumer
	// Superseded versions were overwritten before any pass could read
	// them: a poller sees the latest state only, so they are not missed.
	Superseded int
	Missed     int // latest versions never read
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration
	Max        time.Duration
	Requests   int64   // Coupa requests during the window
	ReqPerSec  float64 // Requests / Window
}

// versionKey is one version of one record, as the API and the topic name
// it: table, id and updated_at (in milliseconds, the record timestamp).
type versionKey struct {
	table string
	id    int64
	at    int64
}

func runFreshness(ctx context.Context, cfg config, set freshSetting) (freshnessResult, error) {
	records := map[string]int{}
	for _, t := range coupa.DefaultTables {
		records[t.Name] = cfg.FreshRecords
	}
	w, err := limitedWorld(cfg, records)
	if err != nil {
		return freshnessResult{}, err
	}
	defer w.close()
	client, prod, err := inProcessProducer(ctx, w, cfg)
	if err != nil {
		return freshnessResult{}, err
	}
	defer prod.Close()

	// Run until every table has finished its first (backfill) pass.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var mu sync.Mutex
	backfilled := map[string]bool{}
	runErr := make(chan error, 1)
	go func() {
		runErr <- prod.Run(runCtx, set.Poll, func(r producer.PassResult, err error) {
			if err == nil {
				mu.Lock()
				backfilled[r.Table] = true
				mu.Unlock()
			}
		})
	}()
	for {
		mu.Lock()
		n := len(backfilled)
		mu.Unlock()
		if n == len(w.tables()) {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return freshnessResult{}, err
		}
	}

	seen, stopConsumer, err := consumeArrivals(ctx, w, w.tables())
	if err != nil {
		return freshnessResult{}, err
	}
	before := client.Stats().Total()
	visible := churnRecordingVisibility(ctx, w, w.tables(), cfg.FreshWindow, cfg.FreshRate, cfg.Seed)
	requests := client.Stats().Total() - before

	// The last changes get as long as the slowest poll to arrive.
	wait := time.Now().Add(set.Poll.Max + 15*time.Second)
	latest := latestVersions(w, w.tables())
	for time.Now().Before(wait) && !allArrived(seen, latest, visible) {
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return freshnessResult{}, err
		}
	}
	arrivals := stopConsumer()
	stopRun()
	if err := <-runErr; err != nil {
		return freshnessResult{}, fmt.Errorf("run: %w", err)
	}

	r := freshnessResult{Setting: set.Name, Poll: set.Poll, Tables: len(w.tables()), Records: cfg.FreshRecords,
		Window: cfg.FreshWindow, ChangeRate: cfg.FreshRate, Versions: len(visible), Requests: requests,
		ReqPerSec: float64(requests) / cfg.FreshWindow.Seconds()}
	var lat []time.Duration
	for k, v := range visible {
		a, ok := arrivals[k]
		switch {
		case ok:
			r.Seen++
			lat = append(lat, max(a.Sub(v), 0))
		case latest[k]:
			r.Missed++
		default:
			r.Superseded++
		}
	}
	slices.Sort(lat)
	r.P50, r.P95, r.P99 = percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
	return r, nil
}

// inProcessProducer wires a producer as cmd/coupa-kafka does, against w's
// tables, in this process. tweak, if given, adjusts the producer's Config
// before it is made (the catalog scenario turns LineTopics on, as the CLI
// does, and keeps the Metrics).
func inProcessProducer(ctx context.Context, w *world, cfg config, tweak ...func(*producer.Config)) (*coupa.Client, *producer.Producer, error) {
	log := slog.New(slog.DiscardHandler)
	client, err := coupa.New(coupa.Config{
		InstanceURL: w.sim.URL(), ClientID: w.spec().ClientID, ClientSecret: w.spec().ClientSecret,
		RateLimit: cfg.Budget, Burst: cfg.Burst, HTTPClient: w.sim.HTTPClient(), Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	rc, err := sr.NewClient(sr.URLs(w.reg.URL()))
	if err != nil {
		return nil, nil, err
	}
	var tables []coupa.Table
	for _, n := range w.tables() {
		t, err := coupa.LookupTable(n)
		if err != nil {
			return nil, nil, err
		}
		tables = append(tables, t)
	}
	pcfg := producer.Config{
		Coupa: client, Instance: client.Instance(), Registry: schemas.NewRegistry(rc),
		Kafka: []kgo.Opt{kgo.SeedBrokers(w.cluster.ListenAddrs()...)}, Tables: tables,
		TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets",
		Lookback: producer.DefaultLookback, Logger: log,
	}
	for _, f := range tweak {
		f(&pcfg)
	}
	prod, err := producer.New(ctx, pcfg)
	return client, prod, err
}

// churnRecordingVisibility changes tables for window at about rate versions
// a second and returns when each version became visible.
func churnRecordingVisibility(ctx context.Context, w *world, tables []string, window time.Duration, rate float64, seed int64) map[versionKey]time.Time {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	visible := map[versionKey]time.Time{}
	note := func(table string, id int64, at time.Time) {
		k := versionKey{table, id, at.UnixMilli()}
		if _, ok := visible[k]; !ok {
			visible[k] = time.Now()
		}
	}
	randomID := func(table string) int64 {
		st := w.sim.States(table)
		return st[rng.IntN(len(st))].ID
	}
	end := time.Now().Add(window)
	for time.Now().Before(end) && ctx.Err() == nil {
		// Poisson arrivals: exponential gaps.
		time.Sleep(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		table := tables[rng.IntN(len(tables))]
		switch p := rng.Float64(); {
		case p < 0.80:
			id := randomID(table)
			if at, err := w.sim.Update(table, id); err == nil {
				note(table, id, at)
			}
		case p < 0.90:
			for _, id := range w.sim.Insert(table, 1) {
				if rec, ok := w.sim.Record(table, id); ok {
					note(table, id, rec.UpdatedAt)
				}
			}
		case p < 0.97:
			id := randomID(table)
			if at, err := w.sim.LateWrite(table, id, time.Duration(5+rng.IntN(55))*time.Second); err == nil {
				note(table, id, at)
			}
		default:
			ids, at := w.sim.BulkUpdate(table, 3+rng.IntN(5)) // a small tie
			for _, id := range ids {
				note(table, id, at)
			}
		}
	}
	return visible
}

// latestVersions is the current version of every record of tables.
func latestVersions(w *world, tables []string) map[versionKey]bool {
	out := map[versionKey]bool{}
	for _, t := range tables {
		for _, st := range w.sim.States(t) {
			out[versionKey{t, st.ID, st.UpdatedAt.UnixMilli()}] = true
		}
	}
	return out
}

func allArrived(seen func() map[versionKey]time.Time, latest map[versionKey]bool, visible map[versionKey]time.Time) bool {
	arrived := seen()
	for k := range visible {
		if _, ok := arrived[k]; !ok && latest[k] {
			return false
		}
	}
	return true
}

// consumeArrivals consumes the topics of tables from their ends with
// read_committed and records when each version first arrived. seen returns
// a snapshot; stop ends the consumer and returns the final record.
func consumeArrivals(ctx context.Context, w *world, tables []string) (seen func() map[versionKey]time.Time, stop func() map[versionKey]time.Time, err error) {
	var topics []string
	for _, t := range tables {
		topics = append(topics, "coupa."+t)
	}
	// Start exactly at today's ends, so that no change made from now on
	// can be missed or counted twice.
	admCl, err := kgo.NewClient(kgo.SeedBrokers(w.cluster.ListenAddrs()...))
	if err != nil {
		return nil, nil, err
	}
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, topics...)
	admCl.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	from := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if from[o.Topic] == nil {
			from[o.Topic] = map[int32]kgo.Offset{}
		}
		from[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.cluster.ListenAddrs()...), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	arrivals := map[versionKey]time.Time{}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for cctx.Err() == nil {
			fs := cl.PollFetches(cctx)
			now := time.Now()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				id, err := strconv.ParseInt(string(r.Key), 10, 64)
				if err != nil {
					return
				}
				k := versionKey{r.Topic[len("coupa."):], id, r.Timestamp.UnixMilli()}
				if _, ok := arrivals[k]; !ok {
					arrivals[k] = now
				}
			})
			mu.Unlock()
		}
	}()
	snapshot := func() map[versionKey]time.Time {
		mu.Lock()
		defer mu.Unlock()
		return copyArrivals(arrivals)
	}
	return snapshot, func() map[versionKey]time.Time {
		cancel()
		<-done
		cl.Close()
		return snapshot()
	}, nil
}

func copyArrivals(m map[versionKey]time.Time) map[versionKey]time.Time {
	out := make(map[versionKey]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (r freshnessResult) print(out io.Writer) {
	fmt.Fprintf(out, "4 freshness, %s (poll min %s, max %s, budget %g passes/s), %d tables x %d records, %s window, %.1f changes/s\n",
		r.Setting, r.Poll.Min, r.Poll.Max, r.Poll.Budget, r.Tables, r.Records, r.Window, r.ChangeRate)
	fmt.Fprintf(out, "     latency p50 %.1f s  p95 %.1f s  p99 %.1f s  max %.1f s   requests %d (%.2f/s)\n",
		r.P50.Seconds(), r.P95.Seconds(), r.P99.Seconds(), r.Max.Seconds(), r.Requests, r.ReqPerSec)
	fmt.Fprintf(out, "     versions %d: seen %d, superseded before any pass %d, missed %d\n\n", r.Versions, r.Seen, r.Superseded, r.Missed)
}
