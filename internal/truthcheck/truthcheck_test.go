package truthcheck

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// The tombstone rules: a deleted record must end in a tombstone, a live one
// must not, and a tombstone is no content (never a duplicate).
func TestCompareTombstones(t *testing.T) {
	sim, err := coupatest.New(coupatest.Config{Seed: 4, Records: map[string]int{"suppliers": 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	schema, err := schemas.Published("suppliers", nil)
	if err != nil {
		t.Fatal(err)
	}
	// topic is what a correct sync of the truth at this moment publishes.
	topic := func() Topic {
		tp := Topic{Last: map[int64]Published{}, Count: map[Content]int{}}
		for id, rec := range sim.Truth("suppliers") {
			v, _, err := schema.Append(schemas.AppendHeader(nil, 1), rec.JSON)
			if err != nil {
				t.Fatal(err)
			}
			tp.Last[id] = Published{UpdatedAt: rec.UpdatedAt, Value: v}
		}
		return tp
	}
	check := func(tp Topic, want string) Report {
		t.Helper()
		rep, err := Compare("suppliers", sim.Truth("suppliers"), tp, schema)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(rep.Problems, "\n")
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant %q", got, want)
		}
		return rep
	}
	check(topic(), "")

	ids := sim.States("suppliers")
	live, gone := ids[0].ID, ids[1].ID
	falseDelete := topic()
	falseDelete.Last[live] = Published{UpdatedAt: ids[0].UpdatedAt}
	if rep := check(falseDelete, "is live, but its last record is a tombstone"); rep.FalseTombstones != 1 {
		t.Errorf("FalseTombstones = %d", rep.FalseTombstones)
	}

	before := topic()
	if err := sim.Delete("suppliers", gone); err != nil {
		t.Fatal(err)
	}
	check(before, "the topic has record") // deleted, no tombstone
	before.Last[gone] = Published{UpdatedAt: ids[1].UpdatedAt}
	if rep := check(before, ""); rep.Tombstoned != 1 {
		t.Errorf("Tombstoned = %d, want 1", rep.Tombstoned)
	}
}

// With Registry, each value is judged by the schema its header names: a
// value written with the generated schema while the instance has custom
// fields (values that a learned version types) is reported untyped, one
// written with a learned version is correct, and both read with the latest.
func TestCompareWithRegistry(t *testing.T) {
	sim, err := coupatest.New(coupatest.Config{Seed: 5, Records: map[string]int{"suppliers": 6}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	reg := srfake.New()
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	generated, err := schemas.Published("suppliers", nil)
	if err != nil {
		t.Fatal(err)
	}
	learned := generated
	for _, rec := range sim.Truth("suppliers") {
		if learned, err = learned.Learn(rec.JSON); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	r := schemas.NewRegistry(cl)
	oldID, err := r.Register(ctx, "coupa.suppliers-value", generated)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := r.Register(ctx, "coupa.suppliers-value", learned)
	if err != nil {
		t.Fatal(err)
	}
	topic := func(tb *schemas.Table, id int) Topic {
		tp := Topic{Last: map[int64]Published{}, Count: map[Content]int{}}
		for id2, rec := range sim.Truth("suppliers") {
			v, _, err := tb.Append(schemas.AppendHeader(nil, id), rec.JSON)
			if err != nil {
				t.Fatal(err)
			}
			tp.Last[id2] = Published{UpdatedAt: rec.UpdatedAt, Value: v}
		}
		return tp
	}
	rep, err := Compare("suppliers", sim.Truth("suppliers"), topic(learned, newID), generated, Registry(cl, "coupa."))
	if err != nil || len(rep.Problems) > 0 {
		t.Errorf("values written with the learned version: %v %v", err, rep.Problems)
	}
	rep, err = Compare("suppliers", sim.Truth("suppliers"), topic(generated, oldID), generated, Registry(cl, "coupa."))
	if err != nil || rep.Untyped != 6 || rep.Unreadable != 0 {
		t.Errorf("values written with the generated schema: untyped %d (want 6), unreadable %d, %v", rep.Untyped, rep.Unreadable, err)
	}
	rep, err = Compare("suppliers", sim.Truth("suppliers"), topic(generated, oldID), generated, Registry(cl, "coupa."), StaticSchemas())
	if err != nil || len(rep.Problems) > 0 {
		t.Errorf("static schemas: %v %v", err, rep.Problems)
	}
}
