package producer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
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
		h.tables = coupa.Tables
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
		Kafka: h.kafka(), Tables: h.tables, TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets",
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

type published struct {
	updatedAt time.Time
	value     []byte
}

// content is one published value of a record.
type content struct {
	version
	hash uint64
}

// topic reads a table topic with read_committed: the last value per key and
// how often each content (id, updated_at, value) was published.
func (h *harness) topic(ctx context.Context, table string) (map[int64]published, map[content]int) {
	h.t.Helper()
	last := map[int64]published{}
	count := map[content]int{}
	err := kread.Committed(ctx, "coupa."+table, kread.FromStart(), func(r *kgo.Record) error {
		id, err := strconv.ParseInt(string(r.Key), 10, 64)
		if err != nil {
			return err
		}
		last[id] = published{updatedAt: r.Timestamp, value: r.Value}
		count[content{version{id, r.Timestamp.UnixMilli()}, valueHash(r.Value)}]++
		return nil
	}, h.kafka()...)
	if err != nil {
		h.t.Fatal(err)
	}
	return last, count
}

// assertTruth compares every table topic with the simulator's ground truth:
// each record's last value is its latest version, byte for byte (the Avro of
// the truth's JSON); nothing is missing or extra; no version was published
// twice. (Two changes of a record within one second share an updated_at and
// are both published: they differ in content, which counts here.)
func (h *harness) assertTruth(ctx context.Context) {
	h.t.Helper()
	for _, tb := range h.tables {
		truth := h.sim.Truth(tb.Name)
		last, count := h.topic(ctx, tb.Name)
		schema, err := schemas.Load(tb.Name)
		if err != nil {
			h.t.Fatal(err)
		}
		missing, stale := 0, 0
		for id, want := range truth {
			got, ok := last[id]
			if !ok {
				missing++
				if missing <= 3 {
					h.t.Errorf("%s: record %d (updated %s) never published", tb.Name, id, want.UpdatedAt)
				}
				continue
			}
			wantValue, _, err := schema.Append(nil, want.JSON)
			if err != nil {
				h.t.Fatal(err)
			}
			if !got.updatedAt.Equal(want.UpdatedAt) || string(got.value[5:]) != string(wantValue) {
				stale++
				if stale <= 3 {
					h.t.Errorf("%s: record %d: topic has the version of %s, truth is %s", tb.Name, id, got.updatedAt.UTC(), want.UpdatedAt)
				}
			}
		}
		for id := range last {
			if _, ok := truth[id]; !ok {
				h.t.Errorf("%s: topic has record %d that the instance does not", tb.Name, id)
			}
		}
		for v, n := range count {
			if n > 1 {
				h.t.Errorf("%s: record %d version %s published %d times", tb.Name, v.id, time.UnixMilli(v.at).UTC(), n)
			}
		}
		if missing+stale > 0 {
			h.t.Errorf("%s: %d missing, %d stale of %d", tb.Name, missing, stale, len(truth))
		}
	}
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
