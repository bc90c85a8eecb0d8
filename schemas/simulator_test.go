package schemas

import (
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// Every record the Coupa simulator renders, for every catalog table it
// serves, converts and rebuilds to the same JSON (up to the documented
// normalisations), and so does every line of the tables with a line topic.
func TestRoundTripSimulator(t *testing.T) {
	srv, served := simulateCatalog(t)
	for _, ct := range coupa.DefaultTables {
		if !served[ct.Name] {
			t.Errorf("the simulator does not serve %s", ct.Name)
		}
	}
	for _, ct := range coupa.Catalog {
		if !served[ct.Name] {
			continue
		}
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

// simulateCatalog starts the simulator with records for every catalog table
// and returns it with the tables it serves. A simulator that refuses
// catalog tables beyond the eight documents is asked for those alone; one
// that accepts them but serves fewer is asked which (Counts has a key per
// served table). The test then covers whatever the simulator serves.
func simulateCatalog(t *testing.T) (*coupatest.Server, map[string]bool) {
	t.Helper()
	n := coupatest.DefaultRecords
	if testing.Short() {
		n = 20
	}
	records := func(tables []coupa.Table) map[string]int {
		m := map[string]int{}
		for _, tb := range tables {
			m[tb.Name] = n
		}
		return m
	}
	cfg := coupatest.DefaultConfig()
	cfg.Records = records(coupa.Catalog)
	srv, err := coupatest.New(cfg)
	if err != nil {
		t.Logf("the simulator refuses the whole catalog (%v): covering the default tables", err)
		cfg.Records = records(coupa.DefaultTables)
		if srv, err = coupatest.New(cfg); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(srv.Close)
	served := map[string]bool{}
	for name := range srv.Counts() {
		served[name] = true
	}
	if len(served) < len(coupa.Catalog) {
		t.Logf("the simulator serves %d of the %d catalog tables", len(served), len(coupa.Catalog))
	}
	return srv, served
}
