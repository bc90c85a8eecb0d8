package coupatest_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
)

var localTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-07:00$`)

// TestRecordsAreCoupaShaped renders every record of every table and checks
// the shape consumers depend on.
func TestRecordsAreCoupaShaped(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.Records = map[string]int{}
		for _, tb := range coupa.Catalog {
			c.Records[tb.Name] = 40
		}
	})
	for _, tb := range coupa.Catalog {
		t.Run(tb.Name, func(t *testing.T) {
			doc, _ := openapi.Load(tb.OpenAPIFile)
			def, _ := doc.Definition(tb.Definition)
			unknown, custom, bigLines := 0, 0, 0
			for id, tr := range s.Truth(tb.Name) {
				var m map[string]json.RawMessage
				json.Unmarshal(tr.JSON, &m)
				if tb.HasUpdatedAt() {
					rec, err := coupa.DecodeRecord(tr.JSON)
					if err != nil {
						t.Fatalf("record %d: %v\n%s", id, err, tr.JSON)
					}
					if rec.ID != id || !rec.UpdatedAt.Equal(tr.UpdatedAt) {
						t.Fatalf("record %d decodes as %d %v, truth says %v", id, rec.ID, rec.UpdatedAt, tr.UpdatedAt)
					}
				} else if _, ok := m["updated-at"]; ok {
					t.Fatalf("record %d has an updated-at its definition has not: %s", id, tr.JSON)
				}
				for _, k := range []string{"created-at", "updated-at"} {
					if _, inDef := def.Property(k); !inDef {
						continue // currencies have neither
					}
					var v string
					json.Unmarshal(m[k], &v)
					if !localTime.MatchString(v) {
						t.Fatalf("%s %q is not second precision in the instance offset", k, v)
					}
				}
				for k, v := range m {
					if strings.Contains(k, "_") {
						t.Fatalf("key %q is not hyphenated", k)
					}
					p, known := def.Property(k)
					if !known {
						if k == "custom-fields" {
							custom++
						} else {
							unknown++
						}
						continue
					}
					switch {
					case bytes.Equal(v, []byte("null")):
					case p.Type == "number" && strings.HasPrefix(p.Format, "decimal"):
						if v[0] != '"' {
							t.Fatalf("decimal %s = %s is not a string", k, v)
						}
					case p.Type == "integer" && len(p.Enum) == 0:
						var n json.Number
						if json.Unmarshal(v, &n) != nil || v[0] == '"' {
							t.Fatalf("integer %s = %s is not a number", k, v)
						}
					case p.Type == "boolean":
						if string(v) != "true" && string(v) != "false" {
							t.Fatalf("boolean %s = %s", k, v)
						}
					case p.Ref != "":
						var o map[string]any
						if json.Unmarshal(v, &o) != nil || o["id"] == nil || len(o) > 4 {
							t.Fatalf("association %s = %s is not id + natural keys", k, v)
						}
					}
				}
				if tb.Lines != "" {
					var lines []map[string]any
					if err := json.Unmarshal(m[tb.Lines], &lines); err != nil || len(lines) == 0 {
						t.Fatalf("%s: %s", tb.Lines, m[tb.Lines])
					}
					if len(tr.JSON) > 2048 {
						bigLines++
					}
				}
			}
			if unknown == 0 || custom == 0 {
				t.Fatalf("no keys outside the definition (%d) or no custom-fields (%d)", unknown, custom)
			}
			if tb.Name == "invoices" && bigLines == 0 {
				t.Fatal("no invoice with lines above 2KB")
			}
		})
	}
}

// Associations carry the natural keys the target table renders itself,
// also where the target is reference data bounded to a few ids (a
// currency, an account type): those are the target table's first ids.
func TestAssociationsMatchTargets(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 20, "suppliers": 30, "users": 30} })
	suppliers := s.Truth("suppliers")
	users := s.Truth("users")
	checked := 0
	for _, tr := range s.Truth("invoices") {
		var inv struct {
			Supplier *struct {
				ID   int64
				Name string
			} `json:"supplier"`
			CreatedBy *struct {
				ID    int64
				Login string
			} `json:"created-by"`
		}
		json.Unmarshal(tr.JSON, &inv)
		if inv.Supplier != nil {
			var sup struct{ Name string }
			target, ok := suppliers[inv.Supplier.ID]
			if !ok {
				t.Fatalf("invoice %d points at missing supplier %d", tr.ID, inv.Supplier.ID)
			}
			json.Unmarshal(target.JSON, &sup)
			if sup.Name != inv.Supplier.Name {
				t.Fatalf("supplier %d is %q, invoice says %q", inv.Supplier.ID, sup.Name, inv.Supplier.Name)
			}
			checked++
		}
		if inv.CreatedBy != nil {
			var u struct{ Login string }
			json.Unmarshal(users[inv.CreatedBy.ID].JSON, &u)
			if u.Login != inv.CreatedBy.Login {
				t.Fatalf("user %d is %q, invoice says %q", inv.CreatedBy.ID, u.Login, inv.CreatedBy.Login)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no invoice has a supplier")
	}
}

func BenchmarkListPageOf50Invoices(b *testing.B) {
	cfg := coupatest.DefaultConfig()
	cfg.Epoch = fixedEpoch
	cfg.Records = map[string]int{"invoices": 5000}
	s := coupatest.NewTLS(b, cfg)
	tok := token(b, s, "")
	q := url.Values{"updated_at[gt_or_eq]": {"2025-01-01T00:00:00Z"}, "order_by": {"updated_at"}}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		r := get(b, s, tok, "/api/invoices", q)
		n = len(r.body)
	}
	b.ReportMetric(float64(n), "bytes/page")
}

// Config.Lines sizes every document exactly (the memory benchmark's "five
// lines each").
func TestLinesGivesEveryRecordThatMany(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) {
		c.Records = map[string]int{"invoices": 30}
		c.Lines = 5
	})
	for id, tr := range s.Truth("invoices") {
		var rec struct {
			Lines []json.RawMessage `json:"invoice-lines"`
		}
		if err := json.Unmarshal(tr.JSON, &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Lines) != 5 {
			t.Fatalf("invoice %d has %d lines, want 5", id, len(rec.Lines))
		}
	}
}
