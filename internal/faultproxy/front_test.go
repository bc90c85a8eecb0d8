package faultproxy

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A client given only a Front address (no dialer: another process) stays
// behind the proxy: every broker metadata names is a front of its own, and
// its produce requests are relayed.
func TestFrontKeepsTheClientBehindTheProxy(t *testing.T) {
	w := newWorld(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "spread"))
	front, err := w.proxy.Front(w.addr)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(front), kgo.DefaultProduceTopic("spread"), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 60 {
		if err := cl.ProduceSync(ctx(t), &kgo.Record{Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w.proxy.mu.Lock()
	fronts := len(w.proxy.fronts)
	w.proxy.mu.Unlock()
	if fronts != 3 {
		t.Errorf("%d front listeners, want one per broker (3)", fronts)
	}
	if n := w.proxy.Requests(kmsg.Produce.Int16()); n < 3 {
		t.Errorf("%d produce requests went through the proxy, want one per leader at least", n)
	}
}

// HoldRequest on a commit, narrowed by When: the commit never reaches the
// broker, the client waits, and the transaction stays open with its records
// in the log; an abort passes, and does not use the fault up.
func TestHoldRequestKeepsATransactionOpen(t *testing.T) {
	w := newWorld(t)
	front, err := w.proxy.Front(w.addr)
	if err != nil {
		t.Fatal(err)
	}
	endTxn := kmsg.EndTxn.Int16()
	commits := func(r kmsg.Request) bool { return r.(*kmsg.EndTxnRequest).Commit }
	if err := w.proxy.Arm(Fault{API: endTxn, Action: HoldRequest, When: commits}); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(front), kgo.TransactionalID("held"),
		kgo.DefaultProduceTopic(topic), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	produceTxn(t, cl, "aborted")
	if err := cl.EndTransaction(ctx(t), kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if w.proxy.Fired(endTxn) != 0 || w.proxy.Pending() != 1 {
		t.Fatalf("the abort fired the fault (fired %d, pending %d)", w.proxy.Fired(endTxn), w.proxy.Pending())
	}

	produceTxn(t, cl, "held")
	done := make(chan error, 1)
	go func() { done <- cl.EndTransaction(ctx(t), kgo.TryCommit) }()
	deadline := time.Now().Add(10 * time.Second)
	for w.proxy.Fired(endTxn) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w.proxy.Fired(endTxn) != 1 {
		t.Fatal("the commit was not held")
	}
	select {
	case err := <-done:
		t.Fatalf("the held commit returned: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if n := w.proxy.Requests(endTxn); n != 1 { // the abort only
		t.Errorf("%d EndTxn requests reached the broker, want 1 (the abort)", n)
	}
	// The open transaction holds read_committed back: the marker, committed
	// after it, is not seen.
	w.mark(t, "marker")
	if seen, ok := w.committedWithin(t, "marker", time.Second); ok {
		t.Errorf("read_committed saw past an open transaction: %q", seen)
	}
}
