package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// severalWorld is two simulated instances on hosts of their own
// (127.0.0.1 and 127.0.0.2), kfake with short group sessions, srfake, and a
// COUPA_CONFIG file listing both, their secrets by environment variable.
func severalWorld(t *testing.T) (Flags, map[string]*coupatest.Server) {
	t.Helper()
	sims := map[string]*coupatest.Server{
		"east": coupatest.NewTLS(t, coupatest.Config{Seed: 5, Records: map[string]int{"users": 30, "suppliers": 20}}),
		"west": coupatest.NewTLS(t, coupatest.Config{Seed: 6, Addr: "127.0.0.2:0", Records: map[string]int{"users": 25, "suppliers": 15}}),
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pem := append(sims["east"].CACertPEM(), sims["west"].CACertPEM()...)
	if err := os.WriteFile(ca, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca)
	t.Setenv("EAST_SECRET", coupatest.DefaultClientSecret)
	secretFile := filepath.Join(dir, "west-secret")
	if err := os.WriteFile(secretFile, []byte(coupatest.DefaultClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "instances.yaml")
	doc := fmt.Sprintf(`instances:
  - name: east
    url: %s
    client_id: %s
    client_secret_env: EAST_SECRET
  - name: west
    url: %s
    client_id: %s
    client_secret_file: %s
    rate_limit: 20
`, sims["east"].URL(), coupatest.DefaultClientID, sims["west"].URL(), coupatest.DefaultClientID, secretFile)
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return Flags{
		CoupaFlags: CoupaFlags{Config: config, Tables: []string{"users", "suppliers"}, RateLimit: 25, Lookback: time.Minute, Parallelism: 4},
		KafkaFlags: KafkaFlags{Brokers: cluster.ListenAddrs(), TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets",
			Partitions: -1, ReplicationFactor: -1, RegistryURL: reg.URL()},
		LogFlags: LogFlags{LogLevel: "error", LogFormat: "json"},
	}, sims
}

type member struct {
	addr string
	stop context.CancelFunc
	done chan error
}

// startMember starts `run` with the group session timeout session (kfake's
// default minimum is 6s; severalWorld allows less).
func startMember(t *testing.T, flags Flags, session time.Duration) *member {
	t.Helper()
	m := &member{addr: freeAddr(t), done: make(chan error, 1)}
	cmd := RunCmd{Flags: flags, PollInterval: 200 * time.Millisecond, PollMin: 50 * time.Millisecond, PollBudget: -1,
		SessionTimeout: session, HTTPAddr: m.addr}
	ctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	go func() { m.done <- cmd.Run(ctx) }()
	t.Cleanup(func() { stop(); <-m.done })
	return m
}

// owns is what the member's gauge says it owns.
func (m *member) owns() []string {
	code, body := httpGet(m.addr, "/metrics")
	if code != 200 {
		return nil
	}
	var out []string
	for _, name := range []string{"east", "west"} {
		if strings.Contains(body, fmt.Sprintf(`coupa_kafka_instance_owned{coupa_instance=%q} 1`, name)) {
			out = append(out, name)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two run processes and two instances from COUPA_CONFIG: each instance is
// synced by one member, into its own topics (coupa.<name>.), with metrics
// labelled by instance; /readyz says what each member owns. When one member
// stops (SIGTERM), it leaves the group and the other takes its instance over
// and syncs what changed meanwhile. No secret shows anywhere.
func TestRunSpreadsInstancesOverMembersAndTakesOverOnLeave(t *testing.T) {
	flags, sims := severalWorld(t)
	a, b := startMember(t, flags, time.Second), startMember(t, flags, time.Second)
	waitFor(t, "each member to own one instance", func() bool { return len(a.owns()) == 1 && len(b.owns()) == 1 })
	published := func(m *member, instance, table string, n int) bool {
		_, body := httpGet(m.addr, "/metrics")
		return strings.Contains(body, fmt.Sprintf(`coupa_kafka_records_published_total{coupa_instance=%q,table=%q} %d`, instance, table, n))
	}
	owner := map[string]*member{a.owns()[0]: a, b.owns()[0]: b}
	// The first member to join starts both instances; the second then takes
	// one over, mid-sync: the topics, not one process's counters, tell
	// whether everything arrived.
	waitFor(t, "both instances synced", func() bool {
		return keys(t, flags, "coupa.east.users") == 30 && keys(t, flags, "coupa.east.suppliers") == 20 &&
			keys(t, flags, "coupa.west.users") == 25 && keys(t, flags, "coupa.west.suppliers") == 15
	})
	for name, m := range owner {
		code, body := httpGet(m.addr, "/readyz")
		if code != 200 || !strings.Contains(body, "owns: "+name+"\n") || !strings.Contains(body, "group coupa-kafka.coupa-offsets member ") {
			t.Errorf("/readyz of %s's owner: %d\n%s", name, code, body)
		}
		_, metrics := httpGet(m.addr, "/metrics")
		if strings.Contains(metrics, coupatest.DefaultClientSecret) || strings.Contains(body, coupatest.DefaultClientSecret) {
			t.Error("a secret shows in /metrics or /readyz")
		}
	}

	var out bytes.Buffer
	list := CursorsListCmd{KafkaFlags: flags.KafkaFlags, LogFlags: flags.LogFlags, out: &out}
	if err := list.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"127.0.0.1  users", "127.0.0.2  suppliers", "group coupa-kafka.coupa-offsets (Stable), 2 members:", "  127.0.0.1\n", "  127.0.0.2\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cursors list lacks %q:\n%s", want, out.String())
		}
	}

	// status joins west's owner's live figures to west's cursors (by the
	// host instance_info names), and leaves east's rows to its cursors.
	out.Reset()
	status := StatusCmd{KafkaFlags: flags.KafkaFlags, LogFlags: flags.LogFlags, RunURL: "http://" + owner["west"].addr, out: &out}
	if err := status.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(rows) != 6 { // header, 4 tables, where the figures came from
		t.Errorf("status shows %d lines, want 6:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		live := strings.Contains(r, "syncing")
		if strings.HasPrefix(r, "127.0.0.2") != live {
			t.Errorf("status row %q: live figures belong to west's rows only", r)
		}
	}

	east, west := owner["east"], owner["west"]
	east.stop()
	if err := <-east.done; err != nil {
		t.Fatalf("run after SIGTERM: %v", err)
	}
	east.done <- nil // for the cleanup
	sims["east"].Insert("users", 4)
	waitFor(t, "the other member to take east over", func() bool { return len(west.owns()) == 2 })
	waitFor(t, "east's new records, and only those, published by its new owner", func() bool {
		return published(west, "east", "users", 4) && keys(t, flags, "coupa.east.users") == 34
	})
}

// keys counts the distinct keys a read_committed consumer sees in topic.
func keys(t *testing.T, flags Flags, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(flags.Brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	seen := map[string]bool{}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return len(seen)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Key)] = true })
	}
}

// A run whose tables another process fenced (it took the transactional
// ids over: the group's new owner when this process is a zombie, or a
// stray sync) stops syncing the instance and says so, and does not fence
// the other process back, however short its retry pause.
func TestRunDoesNotFenceBackWhoFencedIt(t *testing.T) {
	sim, flags := localWorld(t, map[string]int{"users": 10, "suppliers": 10})
	retry := instanceRetryMin
	instanceRetryMin = 20 * time.Millisecond
	t.Cleanup(func() { instanceRetryMin = retry })
	m := startMember(t, flags, 0)
	waitFor(t, "the first pass", func() bool { return keys(t, flags, "coupa.users") == 10 })

	ctx := context.Background()
	other, err := open(ctx, &flags, wiring{}) // fences the run's producers
	if err != nil {
		t.Fatal(err)
	}
	defer other.prod.Close()
	sim.Insert("users", 1)
	sim.Insert("suppliers", 1) // the run finds the fence when it commits
	waitFor(t, "/readyz to say the run was fenced", func() bool {
		code, body := httpGet(m.addr, "/readyz")
		return code == 503 && strings.Contains(body, "fenced")
	})
	time.Sleep(50 * instanceRetryMin)
	if _, err := other.prod.Sync(ctx); err != nil {
		t.Fatalf("the run fenced back the process that fenced it: %v", err)
	}
}
