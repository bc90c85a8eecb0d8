package offsets_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

func TestLoadReadsCommittedCursorsOnly(t *testing.T) {
	ctx, cluster := offsetsCluster(t, 3, 30*time.Second)
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)

	inv := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	sup := offsets.Key{Instance: "acme.coupahost.com", Table: "suppliers"}
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(k offsets.Key, c offsets.Cursor, commit bool) {
		t.Helper()
		cl, err := kgo.NewClient(seeds, kgo.TransactionalID(k.TransactionalID()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		r, _ := offsets.Record("coupa-offsets", k, c)
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	write(inv, offsets.Cursor{UpdatedAt: at, ID: 1}, true)
	write(inv, offsets.Cursor{UpdatedAt: at, ID: 2}, true)
	write(inv, offsets.Cursor{UpdatedAt: at.Add(time.Hour), ID: 99}, false) // aborted
	write(sup, offsets.Cursor{UpdatedAt: at, ID: 7}, true)

	got, err := offsets.Load(ctx, "coupa-offsets", seeds)
	if err != nil {
		t.Fatal(err)
	}
	if c := got[inv]; c.ID != 2 || !c.UpdatedAt.Equal(at) {
		t.Errorf("invoices cursor %v, want the last committed one (id 2)", c)
	}
	if c := got[sup]; c.ID != 7 {
		t.Errorf("suppliers cursor %v", c)
	}
	if len(got) != 2 {
		t.Errorf("%d cursors, want 2", len(got))
	}

	if _, err := offsets.Load(ctx, "no-such-topic", seeds); !errors.Is(err, offsets.ErrNoOffsetsTopic) {
		t.Errorf("missing topic: %v", err)
	}
}

func TestLoadRefusesCorruptCursor(t *testing.T) {
	ctx, cluster := offsetsCluster(t, 1, 30*time.Second)
	cl, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	defer cl.Close()
	k := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "coupa-offsets", Key: k.Bytes(), Value: []byte(`{"v":9}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, err := offsets.Load(ctx, "coupa-offsets", kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err == nil {
		t.Fatal("a cursor of an unknown version loaded")
	}
	t.Log(err)
}

// TestLoadSettledWaitsForOpenTransactions: another producer's open
// transaction holds the last stable offset back behind a committed cursor.
// Load stops there and misses it; LoadSettled waits for the transaction to
// end and sees it. Settling a commit whose answer was lost depends on this.
func TestLoadSettledWaitsForOpenTransactions(t *testing.T) {
	ctx, cluster := offsetsCluster(t, 1, 30*time.Second)
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	inv := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	other := offsets.Key{Instance: "acme.coupahost.com", Table: "users"}
	slow := openTxn(ctx, t, seeds, other, offsets.Cursor{ID: 1, Seq: 1})
	mine := offsets.Cursor{ID: 5, Seq: 3, CommittedAt: time.Now().UTC()}
	if err := openTxn(ctx, t, seeds, inv, mine).EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	early, err := offsets.Load(ctx, "coupa-offsets", seeds)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := early[inv]; ok {
		t.Fatal("Load saw a cursor behind another producer's open transaction: this test no longer shows why LoadSettled exists")
	}
	type result struct {
		cursors map[offsets.Key]offsets.Cursor
		err     error
	}
	done := make(chan result, 1)
	go func() {
		c, err := offsets.LoadSettled(ctx, "coupa-offsets", seeds)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("LoadSettled returned while a transaction was open: %v %v", r.cursors, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := slow.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.cursors[inv]; !got.WrittenBy(mine) {
		t.Errorf("LoadSettled read %+v, want the committed cursor %+v", got, mine)
	}
	if _, ok := r.cursors[other]; ok {
		t.Errorf("LoadSettled returned the aborted cursor of %s", other.Table)
	}
}

// An aborted record right below the last stable offset, whose abort marker
// lies past it, is never delivered to a read_committed reader: the read
// must still end (it used to wait for that record forever).
func TestLoadEndsPastAnAbortedRecordBelowTheStableOffset(t *testing.T) {
	ctx, cluster := offsetsCluster(t, 1, 20*time.Second)
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	key := func(table string) offsets.Key { return offsets.Key{Instance: "acme.coupahost.com", Table: table} }
	aborted := openTxn(ctx, t, seeds, key("invoices"), offsets.Cursor{ID: 1, Seq: 1}) // offset 0
	slow := openTxn(ctx, t, seeds, key("users"), offsets.Cursor{ID: 2, Seq: 1})       // offset 1: holds the stable offset at 1
	if err := aborted.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := offsets.Load(ctx, "coupa-offsets", seeds)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := slow.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load still waits for an aborted record it can never read")
	}
}

// Partitions added to the offsets topic move a key: its cursors then sit in
// two partitions, and the higher commit sequence wins whatever the order of
// reading.
func TestLoadKeepsTheNewestCursorAcrossPartitions(t *testing.T) {
	ctx, cluster := offsetsCluster(t, 2, 20*time.Second)
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	k := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	cl, err := kgo.NewClient(seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, w := range []struct {
		partition int32
		seq       int64
	}{{1, 7}, {0, 6}} { // partition 0 is read first or last: either way 7 wins
		r, _ := offsets.Record("coupa-offsets", k, offsets.Cursor{ID: w.seq, Seq: w.seq})
		r.Partition = w.partition
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := offsets.Load(ctx, "coupa-offsets", seeds)
	if err != nil {
		t.Fatal(err)
	}
	if got[k].Seq != 7 {
		t.Errorf("cursor seq %d, want the newest (7)", got[k].Seq)
	}
}

// openTxn begins a transaction of k's producer that holds cursor c, and
// leaves it open.
func openTxn(ctx context.Context, t *testing.T, seeds kgo.Opt, k offsets.Key, c offsets.Cursor) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(seeds, kgo.TransactionalID(k.TransactionalID()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r, _ := offsets.Record("coupa-offsets", k, c)
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return cl
}

// offsetsCluster is a kfake broker with an offsets topic of partitions
// partitions, and a context for a test of at most d.
func offsetsCluster(t *testing.T, partitions int32, d time.Duration) (context.Context, *kfake.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "coupa-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return ctx, cluster
}
