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
		})
	}
}
