package producer

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// A parent version and its lines are one transaction: after a sync, every
// line of every record is on the line topic with the version of its parent
// (assertTruth checks the line topics), and a record's new version brings
// its lines again with the new parent_updated_at.
func TestLinesFollowTheirParentVersions(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 3, Records: map[string]int{"invoices": 60, "suppliers": 5}}, "invoices", "suppliers")
	h.sync(ctx)
	h.assertTruth(ctx)
	before := h.topic(ctx, "invoice_lines").Records
	id := h.anyID("invoices")
	if _, err := h.sim.Update("invoices", id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	h.sync(ctx)
	h.assertTruth(ctx)
	rec, _ := h.sim.Record("invoices", id)
	ls, err := schemas.SplitLines(schemas.LineSpec{Lines: "invoice-lines", ParentKey: "invoice-id"}, rec.JSON, id, rec.UpdatedAt)
	if err != nil {
		t.Fatal(err)
	}
	lines := len(ls)
	if got := h.topic(ctx, "invoice_lines").Records - before; got != lines {
		t.Errorf("the update published %d lines, the invoice has %d", got, lines)
	}
}

// COUPA_LINE_TOPICS=false: no line topic is created or written.
func TestLineTopicsOff(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 3, Records: map[string]int{"invoices": 20}}, "invoices")
	p := h.producer(ctx, func(c *Config) { c.LineTopics = false })
	defer p.Close()
	if _, err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("coupa.invoice_lines") {
		t.Error("coupa.invoice_lines exists with line topics off")
	}
	if !topics.Has("coupa.invoices") {
		t.Error("coupa.invoices was not created")
	}
}

// Every table and line record carries its source in headers: the instance,
// the table (the line table for a line) and the source updated_at, equal to
// the record timestamp; a parent record also the ids of its lines.
func TestRecordsNameTheirSourceInHeaders(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 3, Records: map[string]int{"invoices": 30}}, "invoices")
	h.sync(ctx)
	var lineIDs []int64
	lineKeys := map[string]bool{}
	for _, table := range []string{"invoices", "invoice_lines"} {
		n := 0
		err := kread.Committed(ctx, "coupa."+table, kread.FromStart(), func(r *kgo.Record) error {
			n++
			got := map[string]string{}
			for _, hd := range r.Headers {
				got[hd.Key] = string(hd.Value)
			}
			want := map[string]string{
				HeaderInstance:  h.client.Instance(),
				HeaderTable:     table,
				HeaderUpdatedAt: r.Timestamp.UTC().Format(time.RFC3339),
			}
			if table == "invoices" {
				// The version's line ids, each of them in the line topic.
				ids, err := parseLineIDs([]byte(got[HeaderLineIDs]))
				if _, ok := got[HeaderLineIDs]; !ok || err != nil || len(ids) == 0 {
					t.Fatalf("invoices offset %d: header %s = %q (%v)", r.Offset, HeaderLineIDs, got[HeaderLineIDs], err)
				}
				lineIDs = append(lineIDs, ids...)
				want[HeaderLineIDs] = got[HeaderLineIDs]
			} else {
				lineKeys[string(r.Key)] = true
			}
			if len(got) != len(want) {
				t.Fatalf("%s offset %d: headers %v, want %v", table, r.Offset, got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s offset %d: header %s = %q, want %q", table, r.Offset, k, got[k], v)
				}
			}
			return nil
		}, h.kafka()...)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s: no records", table)
		}
	}
	for _, id := range lineIDs {
		if !lineKeys[strconv.FormatInt(id, 10)] {
			t.Errorf("line %d named in a %s header is not in invoice_lines", id, HeaderLineIDs)
		}
	}
}
