package truthcheck

import (
	"strings"
	"testing"

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
