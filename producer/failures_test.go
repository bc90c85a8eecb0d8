package producer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// TestCrashAtEachStepThenRestart kills the producer (no abort, client dropped
// as kill -9 leaves it) at each step of a transaction, part-way through a
// sync, deletes records, then restarts it: the topics end equal to the
// instance, with no version published twice, no cursor ahead of its records
// and a tombstone for each deleted record.
func TestCrashAtEachStepThenRestart(t *testing.T) {
	for _, step := range []string{stepBeforeProduce, stepBeforeCommit, stepAfterCommit} {
		t.Run(step, func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			h := newHarness(t, coupatest.Config{Seed: 11, Adversarial: true, Deletes: true,
				Records: map[string]int{"invoices": 700, "users": 120}}, "invoices", "users")
			const crashAt = 2 // the second transaction of each run dies
			for range 3 {
				runCtx, kill := context.WithCancel(ctx)
				pr := &process{kill: kill, at: func(table, s string, txn int) bool {
					return table == "invoices" && s == step && txn == crashAt
				}}
				p := h.producer(ctx, pr.option, h.sweepEveryPass, func(c *Config) { c.BatchRecords = 50 })
				_, err := p.Sync(runCtx)
				p.Close()
				kill()
				if !pr.isDead() || err == nil {
					t.Fatalf("sync did not crash at %s of transaction %d: %v", step, crashAt, err)
				}
				h.sim.Update("invoices", h.anyID("invoices"))
				h.sim.Insert("invoices", 2)
				h.sim.Delete("invoices", h.publishedID(ctx, "invoices"))
				h.sim.Delete("users", h.anyID("users"))
			}
			time.Sleep(1100 * time.Millisecond)
			h.sync(ctx, h.sweepEveryPass)
			reps := h.assertTruth(ctx)
			if reps["users"].Tombstoned != 3 || reps["invoices"].Tombstoned != 3 {
				t.Errorf("tombstoned %d invoices and %d users, want 3 each", reps["invoices"].Tombstoned, reps["users"].Tombstoned)
			}
		})
	}
}

// TestCursorNeverAheadOfRecords checks the committed state after a crash
// between produce and commit: the cursor read back (read_committed) covers
// exactly the records read back.
func TestCursorNeverAheadOfRecords(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 5, Records: map[string]int{"suppliers": 200}}, "suppliers")
	runCtx, kill := context.WithCancel(ctx)
	defer kill()
	pr := &process{kill: kill, at: func(_, s string, txn int) bool { return s == stepBeforeCommit && txn == 3 }}
	p := h.producer(ctx, pr.option, func(c *Config) {
		c.BatchRecords = 50
		c.Parallelism = 1 // commits in order, so two of them must move the cursor
	})
	if _, err := p.Sync(runCtx); !errors.Is(err, errCrash) {
		t.Fatalf("sync did not crash: %v", err)
	}
	p.Close()
	cursors, err := offsets.Load(ctx, "coupa-offsets", h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	c := cursors[offsets.Key{Instance: h.client.Instance(), Table: "suppliers"}]
	last := h.topic(ctx, "suppliers").Last
	covered := 0
	for _, st := range h.sim.States("suppliers") {
		_, published := last[st.ID]
		if c.Covers(st.UpdatedAt, st.ID) {
			covered++
			if !published {
				t.Errorf("cursor %s covers record %d that is not in the topic", c, st.ID)
			}
		}
	}
	// Parallel slices may have committed records beyond the cursor; never
	// may the cursor cover a record that is not committed.
	if covered == 0 || covered >= 200 || covered > len(last) {
		t.Errorf("after two committed batches: cursor covers %d records, topic has %d (of 200)", covered, len(last))
	}
}

// TestSecondProducerFencesFirst: a second process syncing the same table
// takes it over; the first stops that table with a clear error.
func TestSecondProducerFencesFirst(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 60}}, "users")
	first := h.producer(ctx)
	defer first.Close()
	second := h.producer(ctx)
	defer second.Close()
	_, err := first.Sync(ctx)
	var fenced *FencedError
	if !errors.As(err, &fenced) || !strings.Contains(err.Error(), "another coupa-kafka process now owns this table") {
		t.Fatalf("first producer: %v, want a FencedError", err)
	}
	if _, err := second.Sync(ctx); err != nil {
		t.Fatalf("second producer: %v", err)
	}
	h.assertTruth(ctx)
}

func TestRefusesTopicThatIsNotCompacted(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 10}}, "users")
	adm := h.admin()
	del := "delete"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &del}, "coupa.users"); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, h.config())
	if err == nil || !strings.Contains(err.Error(), "cleanup.policy=delete") || !strings.Contains(err.Error(), "--add-config cleanup.policy=compact") {
		t.Fatalf("error %v, want a refusal that says how to fix it", err)
	}
}

func TestRefusesCompactDeleteWithRetention(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 10}}, "users")
	policy, week := "compact,delete", "604800000"
	if _, err := h.admin().CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &policy, "retention.ms": &week}, "coupa.users"); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, h.config())
	if err == nil || !strings.Contains(err.Error(), "retention.ms=604800000") {
		t.Fatalf("error %v, want a refusal naming the retention", err)
	}
}

func TestRefusesMissingOffsetsTopicWhenTablesHaveData(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 10}}, "users")
	h.sync(ctx)
	if _, err := h.admin().DeleteTopic(ctx, "coupa-offsets"); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, h.config())
	if err == nil || !strings.Contains(err.Error(), "offsets topic coupa-offsets does not exist, but coupa.users already hold records") {
		t.Fatalf("error %v, want a loud refusal", err)
	}
}

// TestGracefulShutdown: cancelling mid-sync commits the batch in hand and
// returns promptly; a restart finishes the job without loss or duplicates.
func TestGracefulShutdown(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 4, Records: map[string]int{"invoices": 400}}, "invoices")
	h.sim.Faults().Latency(20*time.Millisecond, 5*time.Millisecond)
	runCtx, stop := context.WithCancel(ctx)
	pr := &process{at: func(_, s string, txn int) bool {
		if s == stepAfterCommit && txn == 1 {
			stop() // SIGTERM after the first commit
		}
		return false
	}}
	p := h.producer(ctx, pr.option, func(c *Config) { c.BatchRecords = 100 })
	res, err := p.Sync(runCtx)
	p.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("sync after cancel: %v", err)
	}
	if res[0].Published == 0 || res[0].Published >= 400 {
		t.Fatalf("published %d before stopping", res[0].Published)
	}
	h.sim.Faults().Reset()
	h.sync(ctx)
	h.assertTruth(ctx)
}

func (h *harness) admin() *kadm.Client {
	cl, err := kgo.NewClient(h.kafka()...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// TestIncompatibleSchemaStopsThatTableOnly: a subject whose registered
// schema ours would break stops that table with an error naming the field;
// the other tables sync.
func TestIncompatibleSchemaStopsThatTableOnly(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 20, "suppliers": 20}}, "users", "suppliers")
	old := `{"type":"record","name":"User","namespace":"coupa","fields":[{"name":"id","type":"string"}]}`
	if _, _, err := h.reg.RegisterSchema("coupa.users-value", sr.Schema{Schema: old, Type: sr.TypeAvro}); err != nil {
		t.Fatal(err)
	}
	p := h.producer(ctx)
	defer p.Close()
	res, err := p.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "table users stopped") || !strings.Contains(err.Error(), "id") {
		t.Fatalf("sync error %v, want users stopped naming the field", err)
	}
	for _, r := range res {
		if r.Table == "suppliers" && r.Published != h.sim.Count("suppliers") {
			t.Errorf("suppliers published %d of %d", r.Published, h.sim.Count("suppliers"))
		}
		if r.Table == "users" && r.Published != 0 {
			t.Errorf("users published %d records under an incompatible schema", r.Published)
		}
	}
	t.Log(err)
}
