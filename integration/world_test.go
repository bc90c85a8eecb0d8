//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/producer"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// world is one test's universe: a simulated Coupa instance, the backend's
// broker, a schema registry, and topic names of its own.
type world struct {
	t       *testing.T
	be      *backend
	sim     *coupatest.Server
	regURL  string
	client  *coupa.Client
	tables  []coupa.Table
	prefix  string // topic prefix, e.g. "it.fullsync.1a2b3c."
	offsets string // offsets topic
}

var nameRE = regexp.MustCompile(`[^a-z0-9]+`)

func newWorld(t *testing.T, simCfg coupatest.Config, tables ...string) *world {
	t.Helper()
	be := getBackend(t)
	sim := coupatest.NewTLS(t, simCfg)
	regURL := be.registryURL
	if regURL == "" {
		reg := srfake.New()
		t.Cleanup(reg.Close)
		regURL = reg.URL()
	}
	client, err := coupa.New(coupa.Config{
		InstanceURL: sim.URL(), ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
		HTTPClient: sim.HTTPClient(), RateLimit: 2000, Burst: 100, MaxRetryTime: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 3)
	_, _ = rand.Read(nonce)
	name := strings.Trim(nameRE.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	w := &world{t: t, be: be, sim: sim, regURL: regURL, client: client,
		prefix: "it." + name + "." + hex.EncodeToString(nonce) + "."}
	w.offsets = w.prefix + "offsets"
	if len(tables) == 0 {
		w.tables = coupa.DefaultTables
	}
	for _, n := range tables {
		tb, err := coupa.LookupTable(n)
		if err != nil {
			t.Fatal(err)
		}
		w.tables = append(w.tables, tb)
	}
	t.Logf("backend %s, topics %s*, registry %s, instance %s", be.name, w.prefix, regURL, sim.URL())
	return w
}

func (w *world) topic(table string) string { return w.prefix + table }

func (w *world) kafka() []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(w.be.brokers...)} }

func (w *world) tableNames() []string {
	var out []string
	for _, tb := range w.tables {
		out = append(out, tb.Name)
	}
	return out
}

func (w *world) registry() *schemas.Registry {
	cl, err := sr.NewClient(sr.URLs(w.regURL))
	if err != nil {
		w.t.Fatal(err)
	}
	return schemas.NewRegistry(cl)
}

// config is a producer of the world's tables, as `coupa-kafka sync` builds
// one (small batches, so that a pass is many transactions).
func (w *world) config() producer.Config {
	return producer.Config{
		Coupa: w.client, Instance: w.client.Instance(), Registry: w.registry(),
		Kafka: w.kafka(), Tables: w.tables, TopicPrefix: w.prefix, OffsetsTopic: w.offsets, LineTopics: true,
		Lookback: 5 * time.Minute, BatchRecords: 120, ProgressEvery: -1,
		Logger: testLogger(w.t),
	}
}

func (w *world) producer(ctx context.Context, mod ...func(*producer.Config)) *producer.Producer {
	w.t.Helper()
	cfg := w.config()
	for _, m := range mod {
		m(&cfg)
	}
	p, err := producer.New(ctx, cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// sync runs one pass with a fresh Producer, as `coupa-kafka sync` would.
func (w *world) sync(ctx context.Context, mod ...func(*producer.Config)) []producer.PassResult {
	w.t.Helper()
	p := w.producer(ctx, mod...)
	defer p.Close()
	res, err := p.Sync(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

func (w *world) admin() *kadm.Client {
	cl, err := kgo.NewClient(w.kafka()...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// content is one published value of a record: its id, updated_at (Unix ms)
// and a digest of its Avro body. Two changes of a record within one second
// share an updated_at (Coupa's precision) and are both published; publishing
// one content twice is the duplicate that must never happen.
// read reads a table topic from the start with read_committed isolation,
// once no transaction is open on it.
func (w *world) read(ctx context.Context, table string) truthcheck.Topic {
	w.t.Helper()
	w.settle(ctx, w.topic(table))
	t, err := truthcheck.Read(ctx, w.topic(table), w.kafka()...)
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// assertTruth compares every table topic with the simulator's ground truth
// (see truthcheck.Compare), and checks that every schema id in a header is
// one the registry serves.
func (w *world) assertTruth(ctx context.Context, opts ...truthcheck.Option) (tombstoned map[string]int) {
	w.t.Helper()
	tombstoned = map[string]int{}
	ids := map[int]bool{}
	read := func(table string) truthcheck.Topic { return w.read(ctx, table) }
	cl, err := sr.NewClient(sr.URLs(w.regURL))
	if err != nil {
		w.t.Fatal(err)
	}
	opts = append([]truthcheck.Option{truthcheck.Registry(cl, w.prefix)}, opts...)
	for _, tb := range w.tables {
		reps, err := truthcheck.CompareTable(tb, w.sim.Truth(tb.Name), read, opts...)
		if err != nil {
			w.t.Fatal(err)
		}
		tombstoned[tb.Name] = reps[0].Tombstoned
		if len(reps) > 1 {
			tombstoned[tb.LineTopic] = reps[1].Tombstoned
		}
		for _, rep := range reps {
			for _, p := range rep.Problems {
				w.t.Error(p)
			}
			for _, s := range rep.SameSecond {
				w.t.Log(s + " (changes within one second)")
			}
			for id := range rep.SchemaIDs {
				ids[id] = true
			}
		}
	}
	for id := range ids {
		if _, err := cl.SchemaByID(ctx, id); err != nil {
			w.t.Errorf("schema id %d in the values: %v", id, err)
		}
	}
	return tombstoned
}

// assertDeletesTested fails the test when neither a record nor a line was
// tombstoned: the deletes it claims to check did not happen. tombstoned is
// what assertTruth returned.
func (w *world) assertDeletesTested(tombstoned map[string]int) {
	w.t.Helper()
	records, lines := 0, 0
	for _, tb := range w.tables {
		records += tombstoned[tb.Name]
		if tb.LineTopic != "" {
			lines += tombstoned[tb.LineTopic]
		}
	}
	if records == 0 || lines == 0 {
		w.t.Errorf("%d records and %d lines tombstoned: the deletes were not tested", records, lines)
	}
}

// sweepEveryPass makes a delete sweep due after every pass, on the
// client's idle budget, a few pages per step.
func (w *world) sweepEveryPass(c *producer.Config) {
	c.DeleteSweep = producer.DeleteSweep{Interval: time.Nanosecond, Coupa: w.client.Idle(), Step: 100}
}

// settle waits until no transaction is open on topics: every partition's
// last stable offset has reached its high watermark. A commit returns once
// the coordinator has logged it; the markers that make the records visible
// to read_committed consumers reach the partitions a moment later (on a real
// broker; kfake writes them at once). Call it only when nothing writes.
func (w *world) settle(ctx context.Context, topics ...string) {
	w.t.Helper()
	adm := w.admin()
	var open []string
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := poll(sctx, 20*time.Millisecond, func() (bool, error) {
		hw, err := adm.ListEndOffsets(sctx, topics...)
		if err == nil {
			err = hw.Error()
		}
		if err != nil {
			return false, err
		}
		lso, err := adm.ListCommittedOffsets(sctx, topics...)
		if err == nil {
			err = lso.Error()
		}
		if err != nil {
			return false, err
		}
		open = open[:0]
		hw.Each(func(o kadm.ListedOffset) {
			if l, ok := lso.Lookup(o.Topic, o.Partition); !ok || l.Offset < o.Offset {
				open = append(open, fmt.Sprintf("%s/%d (stable %d, end %d)", o.Topic, o.Partition, l.Offset, o.Offset))
			}
		})
		return len(open) == 0, nil
	})
	if err != nil {
		w.t.Fatalf("transactions still open on %v: %v", open, err)
	}
}

// cursors reads the world's offsets topic (read_committed).
func (w *world) cursors(ctx context.Context) map[offsets.Key]offsets.Cursor {
	w.t.Helper()
	w.settle(ctx, w.offsets)
	c, err := offsets.Load(ctx, w.offsets, w.kafka()...)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// testLogger sends the producer's warnings to the test log (with -v; all its
// logs with INTEGRATION_LOG=1), and nothing otherwise.
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case os.Getenv("INTEGRATION_LOG") != "":
		level = slog.LevelInfo
	case !testing.Verbose():
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// uncommitted counts the data records of topic as a read_uncommitted
// consumer sees them: committed ones plus those of aborted (or still open)
// transactions.
func (w *world) uncommitted(ctx context.Context, topic string) int {
	w.t.Helper()
	cl, err := kgo.NewClient(w.kafka()...)
	if err != nil {
		w.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		w.t.Fatal(err)
	}
	remaining := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(remaining) == 0 {
		return 0
	}
	rd, err := kgo.NewClient(append(w.kafka(),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for len(remaining) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			w.t.Fatal(ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { w.t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			end, open := remaining[r.Partition]
			if !open || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if !r.Attrs.IsControl() {
				n++
			}
		})
	}
	return n
}

func (w *world) topics() []string {
	var out []string
	for _, tb := range w.tables {
		out = append(out, w.topic(tb.Name))
	}
	return out
}
