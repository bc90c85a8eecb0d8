package producer

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// published is what the table topic holds now: every id whose last record
// is a value, not a tombstone, with the ids of the lines that value has. It
// answers two questions nothing else can: which lines did the previous
// version of a parent have (a new version that drops one must tombstone it),
// and which records does the topic still show (a delete sweep compares them
// with the instance's ids).
//
// It is never persisted on its own: restore rebuilds it from the table topic,
// whose parent records carry their line ids in the HeaderLineIDs header, so
// after a kill -9 it is exactly what committed transactions left.
//
// Memory matters: a million invoices with five lines each must fit in a
// small process, and the garbage collector lets the heap grow to twice
// what is live. So the map holds only a 4-byte reference per id, and the
// line ids live in one arena, sorted and delta-encoded as uvarints (a few
// bytes per line, where a slice would cost a header and eight bytes per
// line). A new version's entry is appended; the arena is compacted when
// replaced entries make up half of it.
type published struct {
	ids     map[int64]uint32 // id → 1 + offset of its line ids in arena (0: none)
	arena   []byte           // per entry: uvarint count, then uvarint deltas
	garbage int              // bytes of arena no id refers to any more
}

func newPublished() *published { return &published{ids: map[int64]uint32{}} }

// has reports whether the topic holds a value for id.
func (p *published) has(id int64) bool {
	_, ok := p.ids[id]
	return ok
}

// set records id's newest published version, with its line ids.
func (p *published) set(id int64, lines []int64) {
	old := p.ids[id]
	if old != 0 {
		p.garbage += entryLen(p.arena[old-1:])
	}
	if len(lines) == 0 {
		p.ids[id] = 0
	} else {
		p.ids[id] = uint32(len(p.arena)) + 1
		p.arena = appendIDs(p.arena, lines)
	}
	p.compact()
}

// remove records a tombstone for id.
func (p *published) remove(id int64) {
	if old, ok := p.ids[id]; ok && old != 0 {
		p.garbage += entryLen(p.arena[old-1:])
	}
	delete(p.ids, id)
}

// lines returns the line ids of id's newest published version.
func (p *published) lines(id int64) []int64 {
	if ref := p.ids[id]; ref != 0 {
		return readIDs(p.arena[ref-1:])
	}
	return nil
}

func (p *published) len() int { return len(p.ids) }

// compact rewrites the arena without garbage once garbage is half of it.
func (p *published) compact() {
	if p.garbage < 1<<16 || 2*p.garbage < len(p.arena) {
		return
	}
	arena := make([]byte, 0, len(p.arena)-p.garbage)
	for id, ref := range p.ids {
		if ref != 0 {
			n := entryLen(p.arena[ref-1:])
			p.ids[id] = uint32(len(arena)) + 1
			arena = append(arena, p.arena[ref-1:int(ref-1)+n]...)
		}
	}
	p.arena, p.garbage = arena, 0
}

// sortedIDs returns every published id in ascending order.
func (p *published) sortedIDs() []int64 {
	out := make([]int64, 0, len(p.ids))
	for id := range p.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// appendIDs appends an entry for ids (any order): their count, then the
// sorted ids as uvarint deltas.
func appendIDs(b []byte, ids []int64) []byte {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	b = binary.AppendUvarint(b, uint64(len(sorted)))
	var prev int64
	for _, id := range sorted {
		b = binary.AppendUvarint(b, uint64(id-prev))
		prev = id
	}
	return b
}

// readIDs reads the entry at the start of b.
func readIDs(b []byte) []int64 {
	n, i := binary.Uvarint(b)
	out := make([]int64, n)
	var prev int64
	for k := range out {
		d, w := binary.Uvarint(b[i:])
		prev += int64(d)
		out[k] = prev
		i += w
	}
	return out
}

// entryLen is the length in bytes of the entry at the start of b.
func entryLen(b []byte) int {
	n, i := binary.Uvarint(b)
	for range n {
		_, w := binary.Uvarint(b[i:])
		i += w
	}
	return i
}

// HeaderLineIDs is on every record of a table with a line topic: the ids of
// that version's lines, as decimal text separated by commas ("" for a
// version without lines). The producer rebuilds from it, after a restart,
// which lines a parent had, so that lines a later version drops get their
// tombstones; consumers may use it to know a version's lines without
// decoding it.
const HeaderLineIDs = "coupa.line_ids"

// formatLineIDs is the HeaderLineIDs value of lines.
func formatLineIDs(lines []lineValue) []byte {
	var b []byte
	for i, l := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, l.id, 10)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// parseLineIDs reads a HeaderLineIDs value.
func parseLineIDs(v []byte) ([]int64, error) {
	if len(v) == 0 {
		return nil, nil
	}
	parts := strings.Split(string(v), ",")
	out := make([]int64, len(parts))
	for i, s := range parts {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("header %s %q: %q is not a line id", HeaderLineIDs, v, s)
		}
		out[i] = id
	}
	return out, nil
}

// droppedLines returns the ids in before that are not in after: the lines a
// new version no longer has.
func droppedLines(before []int64, after []lineValue) []int64 {
	var out []int64
	for _, id := range before {
		if !slices.ContainsFunc(after, func(l lineValue) bool { return l.id == id }) {
			out = append(out, id)
		}
	}
	return out
}
