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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "coupa-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "coupa-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	defer cl.Close()
	k := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "coupa-offsets", Key: k.Bytes(), Value: []byte(`{"v":9}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, err = offsets.Load(ctx, "coupa-offsets", kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err == nil {
		t.Fatal("a cursor of an unknown version loaded")
	}
	t.Log(err)
}
