package faultproxy

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const topic = "t"

// world is one kfake broker, a proxy in front of it, and a transactional
// client going through the proxy.
type world struct {
	cluster *kfake.Cluster
	addr    string
	proxy   *Proxy
}

func newWorld(t *testing.T, opts ...kfake.Opt) *world {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p := New()
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &world{cluster: c, addr: c.ListenAddrs()[0], proxy: p}
}

// logOpt logs the client at debug level when FAULTPROXY_LOG is set, to see
// what kgo does with each fault.
func logOpt() kgo.Opt {
	if os.Getenv("FAULTPROXY_LOG") == "" {
		return kgo.WithLogger(kgo.BasicLogger(io.Discard, kgo.LogLevelNone, nil))
	}
	return kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, func() string { return time.Now().Format("05.000 ") }))
}

// txnClient is a transactional client through the proxy that gives up fast:
// one retry (so two attempts) of a failed request.
func (w *world) txnClient(t *testing.T, txid string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(w.addr),
		kgo.Dialer(w.proxy.DialContext),
		kgo.TransactionalID(txid),
		kgo.DefaultProduceTopic(topic),
		kgo.RequestRetries(1),
		kgo.RetryTimeout(3 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		logOpt(),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn begins a transaction and produces values in it, synchronously.
func produceTxn(t *testing.T, cl *kgo.Client, values ...string) {
	t.Helper()
	ctx := ctx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
}

// mark commits the value marker in a transaction of its own, straight to the
// broker. Once a read_committed consumer sees it, every transaction begun
// before it has been decided, so what that consumer saw before the marker
// is final: a record missing then is missing for good.
func (w *world) mark(t *testing.T, marker string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.addr), kgo.TransactionalID("marker-"+marker),
		kgo.DefaultProduceTopic(topic), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceTxn(t, cl, marker)
	if err := cl.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatalf("marker commit: %v", err)
	}
}

// committed returns the values a read_committed consumer, straight to the
// broker, sees before marker; it fails the test if marker is not seen in
// time.
func (w *world) committed(t *testing.T, marker string) []string {
	t.Helper()
	seen, ok := w.committedWithin(t, marker, 10*time.Second)
	if !ok {
		t.Fatalf("marker %s not seen by read_committed, saw %q", marker, seen)
	}
	return seen
}

// committedWithin is committed that reports, rather than fails, a marker not
// seen within wait: a transaction still open holds read_committed back.
func (w *world) committedWithin(t *testing.T, marker string, wait time.Duration) ([]string, bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var seen []string
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return seen, false
		}
		for _, r := range fs.Records() {
			if string(r.Value) == marker {
				return seen, true
			}
			seen = append(seen, string(r.Value))
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
