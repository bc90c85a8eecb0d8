package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
	"github.com/coupa-kafka/coupa-kafka/producer"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// DemoCmd is `coupa-kafka demo`: everything embedded, nothing to set up.
type DemoCmd struct {
	DataDir string   `name:"data-dir" env:"COUPA_DEMO_DIR" help:"Where the embedded Kafka keeps its data, so a second demo resumes from its cursors (default: the user cache dir)."`
	Fresh   bool     `name:"fresh" help:"Delete the demo's data first and start from nothing."`
	Records int      `name:"records" default:"500" help:"Records per table in the simulated instance."`
	Changes int      `name:"changes" default:"25" help:"Records the simulated instance updates or inserts before the sync, so a second demo has something new to publish."`
	Serve   bool     `name:"serve" help:"After the sync, keep the embedded Kafka and schema registry up (until Ctrl-C) and print how to read the topics and cursors."`
	Tables  []string `name:"tables" default:"${tables}" help:"Tables to sync (comma list), or all: the whole catalog ('coupa-kafka tables' lists it)."`

	out io.Writer // stdout unless a test sets it
}

// Validate refuses sizes the simulator cannot build (kong calls it before
// Run): a negative count used to panic deep inside it.
func (c *DemoCmd) Validate() error {
	var errs []error
	if c.Records < 1 || c.Records > 1_000_000 {
		errs = append(errs, fmt.Errorf("--records %d: want 1 to 1000000 records per table", c.Records))
	}
	if c.Changes < 0 {
		errs = append(errs, fmt.Errorf("--changes %d: want 0 or more", c.Changes))
	}
	return errors.Join(errs...)
}

// demoEpoch fixes the simulated history so every demo run sees the same
// instance: a second run resumes and only publishes the new changes.
var demoEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Run starts an in-process Kafka (kfake, persisted under DataDir), an
// in-memory schema registry (srfake) and a simulated Coupa instance on
// loopback, syncs every table through the same code path as `sync`, and
// prints what landed where.
func (c *DemoCmd) Run(ctx context.Context) error {
	_, err := c.run(ctx)
	return err
}

func (c *DemoCmd) run(ctx context.Context) ([]producer.PassResult, error) {
	dir, err := c.dataDir()
	if err != nil {
		return nil, err
	}
	out := c.out
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintf(out, "coupa-kafka %s demo\n  data dir: %s\n", version, dir)

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "kafka")), kfake.DefaultNumPartitions(3))
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w (if the data dir is from another version, rerun with --fresh)", err)
	}
	defer cluster.Close()
	reg := srfake.New()
	defer reg.Close()
	if err := loadRegistry(reg, dir); err != nil {
		return nil, err
	}
	if len(c.Tables) == 0 { // built without kong's defaults (tests)
		c.Tables = strings.Split(coupa.TableNames(), ",")
	}
	flags := Flags{CoupaFlags: CoupaFlags{Tables: c.Tables}}
	tables, err := flags.tables()
	if err != nil {
		return nil, err
	}
	records := map[string]int{}
	for _, t := range tables {
		records[t.Name] = c.Records
	}
	cfg := coupatest.DefaultConfig()
	cfg.Records, cfg.Epoch = records, demoEpoch
	sim, err := coupatest.New(cfg)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	c.changeInstance(sim, tables)
	fmt.Fprintf(out, "  kafka:    %s (embedded)\n  registry: %s (embedded)\n  coupa:    %s (simulated, %d records per table, %d changed just now)\n\n",
		strings.Join(cluster.ListenAddrs(), ","), reg.URL(), sim.URL(), c.Records, c.Changes)

	flags = Flags{
		CoupaFlags: CoupaFlags{InstanceURL: sim.URL(), ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
			Tables: c.Tables, RateLimit: 25, Lookback: 5 * time.Minute, Parallelism: 8},
		KafkaFlags: KafkaFlags{Brokers: cluster.ListenAddrs(), TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets", LineTopics: true,
			Partitions: -1, ReplicationFactor: -1, RegistryURL: reg.URL()},
		LogFlags: LogFlags{LogLevel: "warn", LogFormat: "text"},
	}
	a, err := open(ctx, &flags, wiring{httpClient: sim.HTTPClient()})
	if err != nil {
		return nil, err
	}
	defer a.prod.Close()
	fmt.Fprintf(out, "syncing %d tables (budget 25 requests/s, shared) ...\n", len(tables))
	start := time.Now()
	stopProgress := progressLines(out, a.metrics, 5*time.Second)
	results, err := a.prod.Sync(ctx)
	stopProgress()
	if serr := saveRegistry(context.WithoutCancel(ctx), a.registry, dir); serr != nil {
		return nil, errors.Join(err, fmt.Errorf("saving the demo's schema registry: %w", serr))
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "done in %s: %d Coupa requests\n\n", time.Since(start).Round(time.Millisecond), a.client.Stats().Total())
	if err := c.summary(ctx, out, a, results); err != nil {
		return results, err
	}
	if c.Serve {
		serve(ctx, out, cluster.ListenAddrs(), reg.URL())
	}
	return results, nil
}

// serve prints how to look at what landed, with the embedded services'
// addresses, and keeps them up until ctx ends (Ctrl-C).
func serve(ctx context.Context, out io.Writer, brokers []string, registry string) {
	b := strings.Join(brokers, ",")
	fmt.Fprintf(out, `
Serving the embedded Kafka and schema registry until Ctrl-C:
  KAFKA_BROKERS=%[1]s
  SCHEMA_REGISTRY_URL=%[2]s

The cursors:
  KAFKA_BROKERS=%[1]s go run ./cmd/coupa-kafka cursors list
Read a topic (kcat decodes Confluent Avro through the registry):
  kcat -b %[1]s -t coupa.invoices -C -e -X isolation.level=read_committed -s value=avro -r %[2]s
Or with Python (pip install confluent-kafka fastavro httpx authlib attrs cachetools):
  python3 -c "from confluent_kafka import Consumer; from confluent_kafka.schema_registry import SchemaRegistryClient; from confluent_kafka.schema_registry.avro import AvroDeserializer; d=AvroDeserializer(SchemaRegistryClient({'url':'%[2]s'})); c=Consumer({'bootstrap.servers':'%[1]s','group.id':'demo','auto.offset.reset':'earliest','isolation.level':'read_committed'}); c.subscribe(['coupa.invoices']); m=c.poll(10); print(d(m.value(), None))"
`, b, registry)
	<-ctx.Done()
	fmt.Fprintln(out, "stopped serving")
}

func (c *DemoCmd) dataDir() (string, error) {
	dir := c.DataDir
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "coupa-kafka", "demo")
	}
	if c.Fresh {
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// changeInstance plays a little activity on the instance, as users would
// between two runs: a few updates and a few new records.
func (c *DemoCmd) changeInstance(sim *coupatest.Server, tables []coupa.Table) {
	for i := 0; i < c.Changes; i++ {
		t := tables[i%len(tables)].Name
		if i%3 == 0 {
			sim.Insert(t, 1)
			continue
		}
		if st := sim.States(t); len(st) > 0 {
			sim.Update(t, st[(i*7919)%len(st)].ID)
		}
	}
	// The pass bound leaves the current second to the next pass; step past it
	// so the changes just made are part of this one.
	time.Sleep(time.Until(sim.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
}

func (c *DemoCmd) summary(ctx context.Context, out io.Writer, a *app, results []producer.PassResult) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(out, "PUBLISHED NOW: records this run published. IN TOPIC: committed records in the topic from every run,")
	fmt.Fprintln(out, "one per version of a record (compaction later keeps the last per id).")
	fmt.Fprintln(tw, "TABLE\tTOPIC\tPUBLISHED NOW\tIN TOPIC\tCURSOR (updated_at, id)")
	var sample []byte
	var sampleTable string
	for _, r := range results {
		n, last, err := countTopic(ctx, a.kafka, r.Topic)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", r.Table, r.Topic, r.Published, n, r.Cursor.String())
		if sample == nil && last != nil {
			sample, sampleTable = last, r.Table
		}
	}
	for _, r := range results {
		t, err := coupa.LookupTable(r.Table)
		if err != nil || t.LineTopic == "" {
			continue
		}
		topic := strings.TrimSuffix(r.Topic, t.Name) + t.LineTopic
		n, _, err := countTopic(ctx, a.kafka, topic)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t\t%d\tlines of %s, in their transactions\n", t.LineTopic, topic, n, r.Table)
	}
	tw.Flush()
	if sample != nil {
		if err := printSample(ctx, out, a.registry, sampleTable, sample); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\nRun the demo again: it resumes from the stored cursors and publishes only what changed.")
	fmt.Fprintln(out, "Consumers read these topics with isolation.level=read_committed; values are Confluent-framed Avro.")
	return nil
}

// countTopic counts committed records and returns the last value read.
func countTopic(ctx context.Context, opts []kgo.Opt, topic string) (int, []byte, error) {
	n := 0
	var last []byte
	err := kread.Committed(ctx, topic, kread.FromStart(), func(r *kgo.Record) error {
		n++
		last = r.Value
		return nil
	}, opts...)
	return n, last, err
}

// printSample decodes one value through the schema its header names (read
// from the registry, as a consumer does) back to Coupa's JSON shape and
// prints its first fields.
func printSample(ctx context.Context, out io.Writer, registry *sr.Client, table string, value []byte) error {
	id, body, err := schemas.HeaderID(value)
	if err != nil {
		return err
	}
	writer, err := registry.SchemaByID(ctx, id)
	if err != nil {
		return err
	}
	generated, err := schemas.Load(table)
	if err != nil {
		return err
	}
	t, err := generated.Adopt(writer.Schema)
	if err != nil {
		return err
	}
	js, err := t.ToJSON(body)
	if err != nil {
		return err
	}
	// ToJSON gives Coupa's keys; a consumer sees the Avro field names
	// (Coupa's keys with '-' as '_'), so show those.
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		return err
	}
	js, err = idFirstJSON(avroNames(v))
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, js, "  ", "  "); err != nil {
		return err
	}
	lines := strings.Split(pretty.String(), "\n")
	fmt.Fprintf(out, "\nA sample %s record as a consumer decodes it from Avro (%d bytes on the wire; first lines):\n  ", table, len(value))
	const show = 24
	if len(lines) > show {
		lines = append(lines[:show], "  ... ("+fmt.Sprint(len(lines)-show)+" more lines)")
	}
	fmt.Fprintln(out, strings.Join(lines, "\n"))
	return nil
}

// avroNames renames the keys of decoded Coupa JSON to Avro field names.
func avroNames(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[strings.ReplaceAll(k, "-", "_")] = avroNames(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = avroNames(e)
		}
	}
	return v
}

// idFirstJSON writes a record with id, created_at and updated_at first and
// the other fields sorted, without HTML escaping (a person reads it).
func idFirstJSON(v any) ([]byte, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return json.Marshal(v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		switch k {
		case "id":
			return 0
		case "created_at":
			return 1
		case "updated_at":
			return 2
		}
		return 3
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := enc.Encode(m[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// progressLines prints the records published so far every interval (a
// large --records takes minutes), until the returned stop is called.
func progressLines(out io.Writer, m *producer.Metrics, every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := publishedSoFar(m)
				fmt.Fprintf(out, "  ... %d records published (%.0f/s)\n", n, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// publishedSoFar sums coupa_kafka_records_published_total over the tables.
func publishedSoFar(m *producer.Metrics) int {
	mfs, _ := m.Registry.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "coupa_kafka_records_published_total" {
			for _, c := range mf.GetMetric() {
				total += c.GetCounter().GetValue()
			}
		}
	}
	return int(total)
}
