package schemas

import (
	"encoding/json"
	"testing"
)

// FuzzAppend: arbitrary input never panics the converter; it either
// converts or returns an error. Whatever converts is valid JSON and must
// round-trip through hamba's decoder back to the same JSON (up to the
// documented normalisations); a refused input leaves dst untouched.
// Seeds: testdata/fuzz/FuzzAppend plus every fixture record.
func FuzzAppend(f *testing.F) {
	for _, table := range []string{"invoices", "users", "approvals"} {
		for _, r := range fixtureRecords(f, table) {
			f.Add([]byte(r))
		}
	}
	tables := []*Table{mustLoad(f, "invoices"), mustLoad(f, "users"), mustLoad(f, "approvals")}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tb := range tables {
			out, _, err := tb.Append([]byte{9}, data)
			if err != nil {
				if len(out) != 1 || out[0] != 9 {
					t.Fatalf("%s: refused input changed dst: %q", tb.Name(), out)
				}
				continue
			}
			if !json.Valid(data) {
				t.Fatalf("%s: converted invalid JSON %q", tb.Name(), data)
			}
			if _, err := roundTrip(tb, data); err != nil {
				t.Fatalf("%s: %v\ninput: %s", tb.Name(), err, data)
			}
		}
	})
}
