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
// small process. Line ids are stored sorted, delta-encoded as uvarints in a
// string (a few bytes per line instead of eight), one string per parent.
type published struct {
	ids map[int64]string // id → encoded line ids ("" for none)
}

func newPublished() *published { return &published{ids: map[int64]string{}} }

// set records id's newest published version, with its line ids.
func (p *published) set(id int64, lines []int64) { p.ids[id] = encodeIDs(lines) }

// remove records a tombstone for id.
func (p *published) remove(id int64) { delete(p.ids, id) }

// lines returns the line ids of id's newest published version.
func (p *published) lines(id int64) []int64 { return decodeIDs(p.ids[id]) }

func (p *published) len() int { return len(p.ids) }

// sortedIDs returns every published id in ascending order.
func (p *published) sortedIDs() []int64 {
	out := make([]int64, 0, len(p.ids))
	for id := range p.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// encodeIDs packs ids (any order) sorted, as uvarint deltas.
func encodeIDs(ids []int64) string {
	if len(ids) == 0 {
		return ""
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	buf := make([]byte, 0, 3*len(sorted)+4)
	var prev int64
	for _, id := range sorted {
		buf = binary.AppendUvarint(buf, uint64(id-prev))
		prev = id
	}
	return string(buf)
}

func decodeIDs(s string) []int64 {
	var out []int64
	var prev int64
	for i := 0; i < len(s); {
		d, n := binary.Uvarint([]byte(s[i:min(len(s), i+binary.MaxVarintLen64)]))
		prev += int64(d)
		out = append(out, prev)
		i += n
	}
	return out
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
