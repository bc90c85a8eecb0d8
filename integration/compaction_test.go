//go:build integration

package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/producer"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// Real log compaction on topics that compact at once (created beforehand
// with segment.ms=100, delete.retention.ms=100 and
// min.cleanable.dirty.ratio=0.001, as the ratio counts bytes and ten
// tombstones are a few hundred bytes beside hundreds of kilobytes): after several passes that republish records, the
// broker's cleaner leaves exactly one record per key in every table topic,
// each the latest version, and one cursor per table in the offsets topic,
// the latest. What a consumer replaying the compacted topics from offset 0
// rebuilds is the instance. Records deleted before the last pass end, once
// compacted, as their tombstone alone (or nothing, once the cleaner has
// dropped it after delete.retention.ms): never as an older value.
func TestRealCompactionKeepsLatestPerKey(t *testing.T) {
	if be := getBackend(t); !be.apacheKafka {
		t.Skipf("%s: the compaction test drives Apache Kafka's log cleaner", be.name)
	}
	ctx := testContext(t, 4*time.Minute)
	tables := []string{"users", "suppliers"}
	w := newWorld(t, coupatest.Config{Seed: 41, UTCOffset: -7 * time.Hour,
		Records: map[string]int{"users": 300, "suppliers": 300}}, tables...)
	adm := w.admin()
	cfg := map[string]*string{}
	for k, v := range map[string]string{"cleanup.policy": "compact", "segment.ms": "100",
		"min.cleanable.dirty.ratio": "0.001", "delete.retention.ms": "100"} {
		cfg[k] = &v
	}
	all := append(w.topics(), w.offsets)
	created, err := adm.CreateTopics(ctx, 1, -1, cfg, all...)
	if err == nil {
		err = created.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	small := func(c *producer.Config) { c.BatchRecords = 50 }
	published := 0
	var last []producer.PassResult
	run := func() {
		last = w.sync(ctx, small)
		for _, r := range last {
			published += r.Published
		}
	}
	run() // the backfill: 6 transactions per table
	for round := range 2 {
		for _, tb := range tables {
			states := w.sim.States(tb)
			for i := range 100 {
				if _, err := w.sim.Update(tb, states[(i*7+round)%len(states)].ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(1100 * time.Millisecond) // the pass bound excludes the current second
		run()
	}
	// One last change of 10 records per table (one transaction each): above
	// min.cleanable.dirty.ratio, so that the cleaner takes them too.
	time.Sleep(200 * time.Millisecond)
	for _, tb := range tables {
		states := w.sim.States(tb)
		for i := range 10 {
			w.sim.Update(tb, states[i*13].ID)
			w.sim.Delete(tb, states[i*13+5].ID) // the sweep tombstones them
		}
	}
	time.Sleep(1100 * time.Millisecond)
	last = w.sync(ctx, small, w.sweepEveryPass)
	for _, r := range last {
		published += r.Published
	}
	keys := w.sim.Count("users") + w.sim.Count("suppliers")
	if published <= keys {
		t.Fatalf("published %d records for %d keys: nothing to compact", published, keys)
	}
	if tombstoned := w.assertTruth(ctx); tombstoned["users"] != 10 || tombstoned["suppliers"] != 10 { // before compaction: every version, the last one the truth's
		t.Fatalf("tombstoned %v, want 10 users and 10 suppliers", tombstoned)
	}

	// Kafka never cleans the active segment, and rolls one only when
	// something is appended after segment.ms. The table topics need no help:
	// their record timestamps are updated_at, at least a second old, so the
	// commit marker (stamped now) of each pass rolls the segment holding its
	// records. The offsets topic's cursors are stamped now like their
	// markers, so the last pass's cursors stay in the active segment, beside
	// nothing older of theirs only once another append rolls it; a live
	// topic keeps getting them, this test appends an aborted transaction,
	// which no read_committed consumer sees.
	time.Sleep(200 * time.Millisecond)
	rollSegments(t, ctx, w, all) // the tombstones are stamped now too

	var state string
	pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err = poll(pctx, 500*time.Millisecond, func() (bool, error) {
		ok, why := compacted(ctx, w, last)
		state = why
		return ok, nil
	})
	if err != nil {
		t.Fatalf("not compacted in time: %s (published %d records for %d keys)", state, published, keys)
	}
	t.Logf("compacted: %s (published %d records for %d keys)", state, published, keys)
	w.assertTruth(ctx)
	// A producer that starts on the compacted topics restores what they
	// hold: its pass and sweep publish nothing, tombstone nothing more.
	for _, r := range w.sync(ctx, small, w.sweepEveryPass) {
		if r.Published != 0 {
			t.Errorf("%s: a restart on the compacted topic published %d records", r.Table, r.Published)
		}
	}
	if tombstoned := w.assertTruth(ctx); tombstoned["users"] > 10 || tombstoned["suppliers"] > 10 {
		t.Errorf("tombstoned %v after the restart", tombstoned)
	}
}

// compacted reports whether every table topic holds exactly one record per
// key, equal to the truth, and the offsets topic exactly one cursor per
// table, equal to the last pass's; otherwise what is still left.
func compacted(ctx context.Context, w *world, last []producer.PassResult) (bool, string) {
	state := ""
	ok := true
	for _, tb := range w.tables {
		truth := w.sim.Truth(tb.Name)
		generated, err := schemas.Published(tb.Name, nil)
		if err != nil {
			w.t.Fatal(err)
		}
		reg := w.registry()
		byID := map[int]*schemas.Table{} // each value is judged by the version it was written with
		perKey := map[int64]int{}
		n, stale, tombstones := 0, 0, 0
		err = kread.Committed(ctx, w.topic(tb.Name), kread.FromStart(), func(r *kgo.Record) error {
			id, err := strconv.ParseInt(string(r.Key), 10, 64)
			if err != nil {
				return err
			}
			n++
			perKey[id]++
			want, found := truth[id]
			switch {
			case !found && r.Value == nil:
				tombstones++ // a deleted record: its tombstone, until delete.retention.ms has passed
				return nil
			case !found:
				stale++ // a deleted record's value, before its tombstone compacts it away
				return nil
			case r.Value == nil:
				return fmt.Errorf("%s: live record %d is tombstoned", tb.Name, id)
			}
			schemaID, _, err := schemas.HeaderID(r.Value)
			if err != nil {
				return err
			}
			if byID[schemaID] == nil {
				text, err := reg.SchemaByID(ctx, schemaID)
				if err != nil {
					return err
				}
				if byID[schemaID], err = generated.Adopt(text); err != nil {
					return err
				}
			}
			wantValue, _, err := byID[schemaID].Append(nil, want.JSON)
			if err != nil {
				return err
			}
			if !r.Timestamp.Equal(want.UpdatedAt) || string(r.Value[5:]) != string(wantValue) {
				stale++
			}
			return nil
		}, w.kafka()...)
		if err != nil {
			w.t.Fatal(err)
		}
		state += fmt.Sprintf("%s: %d records for %d keys (%d older versions, %d tombstones); ", tb.Name, n, len(perKey), stale, tombstones)
		if n != len(perKey) || len(perKey)-tombstones != len(truth) || stale != 0 {
			ok = false
		}
	}
	cursors := map[string]int{}
	final := map[string]offsets.Cursor{}
	n := 0
	err := kread.Committed(ctx, w.offsets, kread.FromStart(), func(r *kgo.Record) error {
		k, err := offsets.ParseKey(r.Key)
		if err != nil {
			return err
		}
		var c offsets.Cursor
		if err := c.UnmarshalJSON(r.Value); err != nil {
			return err
		}
		n++
		cursors[k.Table]++
		final[k.Table] = c
		return nil
	}, w.kafka()...)
	if err != nil {
		w.t.Fatal(err)
	}
	state += fmt.Sprintf("%s: %d cursor records for %d tables", w.offsets, n, len(cursors))
	if n != len(w.tables) || len(cursors) != len(w.tables) {
		ok = false
	}
	for _, r := range last {
		if c := final[r.Table]; !c.UpdatedAt.Equal(r.Cursor.UpdatedAt) || c.ID != r.Cursor.ID {
			state += fmt.Sprintf("; %s: the cursor left is %s, the last pass ended at %s", r.Table, c, r.Cursor)
			ok = false
		}
	}
	return ok, state
}

// rollSegments appends an aborted transaction to partition 0 of each topic:
// the append rolls the active segment (older than segment.ms), so that the
// cleaner may clean what it held, and adds nothing read_committed sees.
func rollSegments(t *testing.T, ctx context.Context, w *world, topics []string) {
	t.Helper()
	cl, err := kgo.NewClient(append(w.kafka(),
		kgo.TransactionalID("coupa-kafka-it-roll-"+w.prefix),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		r := &kgo.Record{Topic: topic, Partition: 0, Key: []byte("roll"), Value: []byte("aborted")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}
