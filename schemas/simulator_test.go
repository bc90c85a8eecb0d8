package schemas

import (
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// Every record the Coupa simulator renders, for all 8 tables, converts and
// rebuilds to the same JSON (up to the documented normalisations).
func TestRoundTripSimulator(t *testing.T) {
	cfg := coupatest.DefaultConfig()
	if testing.Short() {
		cfg.Records = map[string]int{}
		for _, tb := range coupa.Tables {
			cfg.Records[tb.Name] = 20
		}
	}
	srv, err := coupatest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, ct := range coupa.Tables {
		t.Run(ct.Name, func(t *testing.T) {
			tb := mustLoad(t, ct.Name)
			truth := srv.Truth(ct.Name)
			if len(truth) == 0 {
				t.Fatal("the simulator rendered no records")
			}
			extra := 0
			for id, rec := range truth {
				n, err := roundTrip(tb, rec.JSON)
				if err != nil {
					t.Fatalf("record %d: %v\noriginal: %s", id, err, rec.JSON)
				}
				extra += n
			}
			t.Logf("%d records, %d values kept in extra", len(truth), extra)
			if ct.LineTopic == "" {
				return
			}
			lt := mustLoad(t, ct.LineTopic)
			spec := LineSpec{Lines: ct.Lines, ParentKey: ct.LineParentKey}
			lines, extra := 0, 0
			for id, rec := range truth {
				ls, err := SplitLines(spec, rec.JSON, id, rec.UpdatedAt)
				if err != nil {
					t.Fatalf("record %d: %v", id, err)
				}
				for _, l := range ls {
					n, err := roundTrip(lt, l.JSON)
					if err != nil {
						t.Fatalf("record %d line %d: %v\nline: %s", id, l.ID, err, l.JSON)
					}
					lines++
					extra += n
				}
			}
			if lines == 0 {
				t.Fatal("the simulator rendered no lines")
			}
			t.Logf("%s: %d lines, %d values kept in extra", ct.LineTopic, lines, extra)
		})
	}
}
