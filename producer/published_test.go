package producer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// published answers exactly as a plain map of line ids would, through
// new versions, tombstones and the compactions they cause.
func TestPublishedAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	p, model := newPublished(), map[int64][]int64{}
	compactions := 0
	for op := range 200_000 {
		id := int64(rng.IntN(5000))
		switch rng.IntN(10) {
		case 0:
			p.remove(id)
			delete(model, id)
		default:
			var lines []int64
			for range rng.IntN(7) {
				lines = append(lines, id*100+int64(rng.IntN(100))+rng.Int64N(1<<40)*int64(rng.IntN(2)))
			}
			arena := len(p.arena)
			p.set(id, lines)
			if len(p.arena) < arena {
				compactions++
			}
			sorted := slices.Clone(lines)
			slices.Sort(sorted)
			model[id] = sorted
		}
		if op%1000 == 0 || op == 199_999 {
			if p.len() != len(model) {
				t.Fatalf("op %d: %d ids, want %d", op, p.len(), len(model))
			}
			for id, want := range model {
				if got := p.lines(id); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("op %d: lines(%d) = %v, want %v", op, id, got, want)
				}
			}
		}
	}
	if compactions == 0 {
		t.Error("the arena was never compacted: the test did not test it")
	}
	if p.garbage*2 > len(p.arena)+1<<16 {
		t.Errorf("garbage %d of %d bytes", p.garbage, len(p.arena))
	}
}

// droppedLines finds the lines a new version no longer has.
func TestDroppedLines(t *testing.T) {
	got := droppedLines([]int64{1, 2, 3, 4}, []lineValue{{id: 2}, {id: 4}, {id: 9}})
	if !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("dropped %v, want [1 3]", got)
	}
	if got := droppedLines(nil, []lineValue{{id: 1}}); len(got) != 0 {
		t.Errorf("dropped %v from no previous lines", got)
	}
}

// The coupa.line_ids header reads back what it was written from, and a
// malformed one is an error, not an empty list.
func TestLineIDsHeader(t *testing.T) {
	v := formatLineIDs([]lineValue{{id: 10}, {id: 7}})
	if string(v) != "10,7" {
		t.Errorf("header %q", v)
	}
	ids, err := parseLineIDs(v)
	if err != nil || !slices.Equal(ids, []int64{10, 7}) {
		t.Errorf("parsed %v, %v", ids, err)
	}
	if v := formatLineIDs(nil); v == nil || len(v) != 0 {
		t.Errorf("no lines: header %q (nil %v), want present and empty", v, v == nil)
	}
	if _, err := parseLineIDs([]byte("1,x")); err == nil {
		t.Error("a malformed header parsed")
	}
}
