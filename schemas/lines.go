package schemas

import (
	"fmt"
	"strconv"
	"time"
)

// LineSpec says where a parent record keeps its lines and which key of the
// parent's id each line of a line topic carries.
type LineSpec struct {
	Lines     string // the parent's array of lines ("invoice-lines")
	ParentKey string // the key of the parent's id in a line ("invoice-id")
}

// ParentUpdatedAtKey is the key SplitLines adds for the parent's updated-at.
const ParentUpdatedAtKey = "parent-updated-at"

// Line is one line of a parent record, as its line topic's schema takes it.
type Line struct {
	ID   int64
	JSON []byte // the line's own JSON with the parent's id and updated-at added
}

// SplitLines returns the lines of one parent record's JSON, in Coupa's
// order. Each line's JSON gets the parent's id under spec.ParentKey
// (unless Coupa's line already carries that key) and the parent's
// updated-at under ParentUpdatedAtKey, so that a line on its own topic says
// which version of which parent it belongs to. A record without the array
// (or with null) has no lines. A line that is not an object or has no
// integer id is an error: it could not be keyed, and dropping it would lose
// it.
func SplitLines(spec LineSpec, raw []byte, parentID int64, parentUpdatedAt time.Time) ([]Line, error) {
	var lines []Line
	prefix := fmt.Appendf(nil, "%q:%q", ParentUpdatedAtKey, parentUpdatedAt.UTC().Format(time.RFC3339Nano))
	_, err := eachMember(raw, skipWS(raw, 0), func(key []byte, v []byte) error {
		if string(key) != spec.Lines || v[0] == 'n' {
			return nil
		}
		if v[0] != '[' {
			return fmt.Errorf("%s is not an array", spec.Lines)
		}
		return eachElement(v, func(n int, elem []byte) error {
			l, err := line(spec, elem, parentID, prefix)
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", spec.Lines, n, err)
			}
			lines = append(lines, l)
			return nil
		})
	})
	return lines, err
}

// line builds one line of SplitLines from its JSON object elem.
func line(spec LineSpec, elem []byte, parentID int64, prefix []byte) (Line, error) {
	if elem[0] != '{' {
		return Line{}, fmt.Errorf("a line is not an object")
	}
	id, hasID, hasParent := int64(0), false, false
	_, err := eachMember(elem, 0, func(key, v []byte) error {
		switch string(key) {
		case "id":
			n, err := strconv.ParseInt(string(v), 10, 64)
			id, hasID = n, err == nil
		case spec.ParentKey:
			hasParent = true
		}
		return nil
	})
	if err != nil {
		return Line{}, err
	}
	if !hasID {
		return Line{}, fmt.Errorf("a line has no integer id")
	}
	out := make([]byte, 0, len(elem)+len(prefix)+len(spec.ParentKey)+32)
	out = append(out, '{')
	if !hasParent {
		out = fmt.Appendf(out, "%q:%d,", spec.ParentKey, parentID)
	}
	out = append(out, prefix...)
	out = append(out, ',') // elem has a member: its id
	out = append(out, elem[1:]...)
	return Line{ID: id, JSON: out}, nil
}

// eachMember calls fn with each member of the JSON object starting at b[i]
// (keys unescaped only when they hold no escapes, as Coupa's never do) and
// returns the offset after the object.
func eachMember(b []byte, i int, fn func(key, value []byte) error) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return i, synErr(b, i, "an object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, synErr(b, i, "a key")
		}
		end, _, err := skipString(b, i)
		if err != nil {
			return end, err
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, synErr(b, i, "':'")
		}
		start := skipWS(b, i+1)
		if i, err = skipValue(b, start, 1); err != nil {
			return i, err
		}
		if err := fn(key, b[start:i]); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		return i, synErr(b, i, "',' or '}'")
	}
}

// eachElement calls fn with each element of the JSON array b.
func eachElement(b []byte, fn func(n int, elem []byte) error) error {
	i := skipWS(b, 1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		start := i
		end, err := skipValue(b, start, 1)
		if err != nil {
			return err
		}
		if err := fn(n, b[start:end]); err != nil {
			return err
		}
		i = skipWS(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return nil
		}
		return synErr(b, i, "',' or ']'")
	}
}
