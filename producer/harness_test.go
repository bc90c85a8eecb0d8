package producer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// harness is one simulated world: a Coupa simulator, an in-process Kafka
// (kfake) and an in-memory schema registry (srfake).
type harness struct {
	t       *testing.T
	sim     *coupatest.Server
	cluster *kfake.Cluster
	reg     *srfake.Registry
	client  *coupa.Client
	tables  []coupa.Table
}

func newHarness(t *testing.T, simCfg coupatest.Config, tables ...string) *harness {
	t.Helper()
	sim := coupatest.NewTLS(t, simCfg)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := coupa.New(coupa.Config{
		InstanceURL: sim.URL(), ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
		HTTPClient: sim.HTTPClient(), RateLimit: 2000, Burst: 100, MaxRetryTime: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, sim: sim, cluster: cluster, reg: reg, client: client}
	if len(tables) == 0 {
		h.tables = coupa.DefaultTables
	}
	for _, name := range tables {
		tb, err := coupa.LookupTable(name)
		if err != nil {
			t.Fatal(err)
		}
		h.tables = append(h.tables, tb)
	}
	return h
}

func (h *harness) kafka() []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(h.cluster.ListenAddrs()...)} }

func (h *harness) config() Config {
	return Config{
		Coupa: h.client, Instance: h.client.Instance(), Registry: h.registry(),
		Kafka: h.kafka(), Tables: h.tables, TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets", LineTopics: true,
		Lookback: 5 * time.Minute, BatchRecords: 120, ProgressEvery: -1,
		// Small slices, so that every test also exercises parallel slices.
		SliceRecords: 90, Parallelism: 4,
	}
}

func (h *harness) producer(ctx context.Context, mod ...func(*Config)) *Producer {
	h.t.Helper()
	cfg := h.config()
	for _, m := range mod {
		m(&cfg)
	}
	p, err := New(ctx, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// sync runs one pass with a fresh Producer, as `coupa-kafka sync` would.
func (h *harness) sync(ctx context.Context, mod ...func(*Config)) []PassResult {
	h.t.Helper()
	p := h.producer(ctx, mod...)
	defer p.Close()
	res, err := p.Sync(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// topic reads a table topic with read_committed.
func (h *harness) topic(ctx context.Context, table string) truthcheck.Topic {
	h.t.Helper()
	t, err := truthcheck.Read(ctx, "coupa."+table, h.kafka()...)
	if err != nil {
		h.t.Fatal(err)
	}
	return t
}

// assertTruth compares every table topic, and every line topic, with the
// simulator's ground truth (see truthcheck.Compare and CompareLines):
// nothing missing, stale or extra, no content published twice.
func (h *harness) assertTruth(ctx context.Context, opts ...truthcheck.Option) map[string]truthcheck.Report {
	h.t.Helper()
	read := func(table string) truthcheck.Topic { return h.topic(ctx, table) }
	cl, err := sr.NewClient(sr.URLs(h.reg.URL()))
	if err != nil {
		h.t.Fatal(err)
	}
	opts = append([]truthcheck.Option{truthcheck.Registry(cl, "coupa.")}, opts...)
	out := map[string]truthcheck.Report{}
	for _, tb := range h.tables {
		reps, err := truthcheck.CompareTable(tb, h.sim.Truth(tb.Name), read, opts...)
		if err != nil {
			h.t.Fatal(err)
		}
		out[tb.Name] = reps[0]
		if len(reps) > 1 {
			out[tb.LineTopic] = reps[1]
		}
		for _, rep := range reps {
			for _, p := range rep.Problems {
				h.t.Error(p)
			}
		}
	}
	return out
}

// sweepEveryPass makes a delete sweep due after every pass (and a Sync run
// it to its end), on the client's idle budget, a few pages per step.
func (h *harness) sweepEveryPass(c *Config) {
	c.DeleteSweep = DeleteSweep{Interval: time.Nanosecond, Coupa: h.client.Idle(), Step: 100}
}

// registry is the real schemas.Registry (compatibility checks included)
// talking to srfake over HTTP.
func (h *harness) registry() *schemas.Registry {
	cl, err := sr.NewClient(sr.URLs(h.reg.URL()))
	if err != nil {
		h.t.Fatal(err)
	}
	return schemas.NewRegistry(cl)
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
