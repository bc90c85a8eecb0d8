package schemas

import (
	"strings"
	"testing"
	"time"
)

func TestSplitLines(t *testing.T) {
	spec := LineSpec{Lines: "invoice-lines", ParentKey: "invoice-id"}
	at := time.Date(2026, 3, 1, 7, 0, 0, 0, time.FixedZone("", -7*3600))
	const stamp = `"parent-updated-at":"2026-03-01T14:00:00Z"`
	for _, c := range []struct {
		name, raw string
		want      []string // the lines' JSON
		err       string
	}{
		{name: "two lines, parent id added",
			raw:  `{"id":5,"invoice-lines":[{"id":51,"total":"1.50"}, {"id":52}],"x":1}`,
			want: []string{`{"invoice-id":5,` + stamp + `,"id":51,"total":"1.50"}`, `{"invoice-id":5,` + stamp + `,"id":52}`}},
		{name: "the line has the parent key already: kept as Coupa sent it",
			raw:  `{"invoice-lines":[ {"invoice-id":9,"id":51} ]}`,
			want: []string{`{` + stamp + `,"invoice-id":9,"id":51}`}},
		{name: "no lines key", raw: `{"id":5}`},
		{name: "null lines", raw: `{"id":5,"invoice-lines":null}`},
		{name: "empty array", raw: `{"invoice-lines":[ ]}`},
		{name: "nested arrays of the same name are not lines",
			raw:  `{"supplier":{"invoice-lines":[{"id":1}]},"invoice-lines":[{"id":2}]}`,
			want: []string{`{"invoice-id":5,` + stamp + `,"id":2}`}},
		{name: "a line without id", raw: `{"invoice-lines":[{"id":1},{"total":"2"}]}`, err: "invoice-lines[1]: a line has no integer id"},
		{name: "an id that is not an integer", raw: `{"invoice-lines":[{"id":"1"}]}`, err: "no integer id"},
		{name: "a line that is not an object", raw: `{"invoice-lines":[7]}`, err: "not an object"},
		{name: "lines that are not an array", raw: `{"invoice-lines":{"id":1}}`, err: "not an array"},
		{name: "malformed JSON", raw: `{"invoice-lines":[{"id":1}`, err: "invalid JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines, err := SplitLines(spec, []byte(c.raw), 5, at)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != len(c.want) {
				t.Fatalf("%d lines, want %d: %v", len(lines), len(c.want), lines)
			}
			for i, l := range lines {
				if string(l.JSON) != c.want[i] {
					t.Errorf("line %d:\n got %s\nwant %s", i, l.JSON, c.want[i])
				}
			}
		})
	}
}
