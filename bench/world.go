package main

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// benchEpoch fixes the simulated history, so every run sees the same data.
var benchEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is everything the producer talks to: a simulated Coupa instance, a
// Kafka broker (kfake) and a schema registry (srfake). It lives in the
// orchestrating process; the producer under measurement runs in a child
// process and reaches it over loopback, so neither the simulator's rendering
// nor the broker's storage is counted as the producer's CPU or memory.
type world struct {
	sim     *coupatest.Server
	cluster *kfake.Cluster
	reg     *srfake.Registry
	records map[string]int
}

type worldConfig struct {
	records map[string]int
	seed    int64
	lines   int // lines per document (coupatest.Config.Lines); zero: 1..8, mostly short
	// blackhole makes kfake acknowledge produce requests (transactional
	// sequences still validated) without storing the bytes.
	blackhole bool
	latency   time.Duration
	jitter    time.Duration
	// limit switches the simulator's leaky bucket on at limitRate/limitBurst.
	limit      bool
	limitRate  float64
	limitBurst int
}

// limitedWorld is a simulated instance with the run's records, latency
// and Coupa's rate limit switched on: what every producer run measures
// against.
func limitedWorld(cfg config, records map[string]int) (*world, error) {
	return newWorld(worldConfig{records: records, seed: cfg.Seed, latency: cfg.Latency, jitter: cfg.Jitter,
		limit: true, limitRate: cfg.SimRate, limitBurst: cfg.SimBurst})
}

func newWorld(c worldConfig) (*world, error) {
	cfg := coupatest.DefaultConfig()
	cfg.Seed = c.seed
	cfg.Epoch = benchEpoch
	cfg.Records = c.records
	cfg.Lines = c.lines
	sim, err := coupatest.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3)}
	if c.blackhole {
		opts = append(opts, kfake.BlackholeProduce())
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("kfake: %w", err)
	}
	w := &world{sim: sim, cluster: cluster, reg: srfake.New(), records: c.records}
	if c.latency > 0 || c.jitter > 0 {
		sim.Faults().Latency(c.latency, c.jitter)
	}
	if c.limit {
		sim.Faults().SetRateLimit(c.limitRate, c.limitBurst)
		sim.Faults().RateLimit(true)
	}
	return w, nil
}

func (w *world) close() {
	w.reg.Close()
	w.cluster.Close()
	w.sim.Close()
}

// tables returns the tables that have records, in coupa.Catalog order (the
// eight default tables first, in coupa.DefaultTables order).
func (w *world) tables() []string {
	var out []string
	for _, t := range coupa.Catalog {
		if w.records[t.Name] > 0 {
			out = append(out, t.Name)
		}
	}
	return out
}

// minPages is the least number of list calls any walk needs: every record
// fetched once, 50 to a page.
func (w *world) minPages() int {
	n := 0
	for _, t := range w.tables() {
		n += (w.sim.Count(t) + coupa.MaxLimit - 1) / coupa.MaxLimit
	}
	return n
}

func (w *world) total() int {
	n := 0
	for _, t := range w.tables() {
		n += w.sim.Count(t)
	}
	return n
}

// spec is what a child needs to reach the world.
func (w *world) spec() childSpec {
	return childSpec{
		InstanceURL: w.sim.URL(), CACertPEM: string(w.sim.CACertPEM()),
		ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
		Brokers: w.cluster.ListenAddrs(), RegistryURL: w.reg.URL(), Tables: w.tables(),
	}
}
