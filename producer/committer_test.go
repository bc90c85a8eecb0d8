package producer

import (
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// TestCommitterMovesCursorOverFinishedPrefix drives the committer as the
// pipeline does, with slices finishing out of order: the cursor follows the
// earliest unfinished slice's committed position, never a later slice's.
func TestCommitterMovesCursorOverFinishedPrefix(t *testing.T) {
	ctx := testContext(t, time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 3, Records: map[string]int{"users": 1}}, "users")
	p := h.producer(ctx)
	defer p.Close()
	ts := p.tables[0]
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) position { return position{at: base.Add(time.Duration(min) * time.Minute)} }
	cursorAt := func(pos position) offsets.Cursor { return offsets.Cursor{UpdatedAt: pos.at, ID: pos.id} }

	cm := newCommitter(ts)
	cm.slices = []sliceBook{{committed: at(0)}, {committed: at(10)}, {committed: at(20)}}
	steps := []struct {
		name string
		req  batchRequest
		want position // the table's cursor afterwards
	}{
		{"the last slice finishes first", batchRequest{slice: 2, pos: at(30), done: true}, at(0)},
		{"the middle slice is half way", batchRequest{slice: 1, pos: at(15)}, at(0)},
		{"the first slice is half way", batchRequest{slice: 0, pos: at(5)}, at(5)},
		{"the first slice finishes", batchRequest{slice: 0, pos: at(9), done: true}, at(15)},
		{"the middle slice finishes", batchRequest{slice: 1, pos: at(19), done: true}, at(30)},
	}
	for _, st := range steps {
		a := cm.handle(ctx, st.req)
		if a.err != nil {
			t.Fatalf("%s: %v", st.name, a.err)
		}
		if !a.committed.at.Equal(st.req.pos.at) || a.committed.id != st.req.pos.id {
			t.Errorf("%s: answered committed %s, want %s", st.name, a.committed, st.req.pos)
		}
		if want := cursorAt(st.want); ts.cursor.After(want) || want.After(ts.cursor) {
			t.Errorf("%s: cursor %s, want %s", st.name, ts.cursor, want)
		}
	}
	cursors, err := offsets.LoadSettled(ctx, "coupa-offsets", h.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	if got := cursors[ts.key]; !got.WrittenBy(ts.cursor) {
		t.Errorf("Kafka holds cursor %s seq %d, the committer says %s seq %d", got, got.Seq, ts.cursor, ts.cursor.Seq)
	}
}
