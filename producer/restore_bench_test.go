package producer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// BenchmarkRestoreTopic measures what a start costs with line topics or
// sweeps on: reading a whole table topic (100,000 invoices of 2 KB, five
// line ids each in coupa.line_ids) back into seen and published. It
// reports the records read per second and the heap the index keeps. It
// reads from kfake, or from the broker at COUPA_BENCH_BROKERS (e.g. one
// that scripts/kafka-local.sh started):
//
//	go test ./producer -run '^$' -bench RestoreTopic -benchtime 3x
func BenchmarkRestoreTopic(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	topic := "coupa.invoices"
	brokers := strings.Split(os.Getenv("COUPA_BENCH_BROKERS"), ",")
	if brokers[0] == "" {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.SeedTopics(3, topic))
		if err != nil {
			b.Fatal(err)
		}
		defer cluster.Close()
		brokers = cluster.ListenAddrs()
	} else {
		topic = fmt.Sprintf("bench-restore-%d", time.Now().UnixNano())
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	cl, err := kgo.NewClient(append(opts, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, -1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := int64(1000 + i)
		value := make([]byte, 2048) // random: as incompressible as it gets
		for k := 0; k < len(value); k += 8 {
			binary.LittleEndian.PutUint64(value[k:], rng.Uint64())
		}
		lines := fmt.Sprintf("%d,%d,%d,%d,%d", id*10, id*10+1, id*10+2, id*10+3, id*10+4)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, id, 10), Value: value,
			Timestamp: at.Add(time.Duration(i) * time.Second), Headers: []kgo.RecordHeader{{Key: HeaderLineIDs, Value: []byte(lines)}}}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	tb, _ := coupa.LookupTable("invoices")
	cfg := &Config{Kafka: opts}
	b.ResetTimer()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ts := &tableSync{cfg: cfg, table: tb, topic: topic, lines: &lineTopic{}, seen: newSeen(), published: newPublished()}
		start := time.Now()
		if _, err := ts.readTopic(ctx, at.Add(n*time.Second-5*time.Minute)); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if ts.published.len() != n {
			b.Fatalf("restored %d ids, want %d", ts.published.len(), n)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "records/s")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "index-bytes/record")
		runtime.KeepAlive(ts)
	}
}
