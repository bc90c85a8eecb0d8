package coupa_test

import (
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
)

// TestCatalogCoversR39 holds the catalog to Coupa's R39 files: every GET
// resource without a path parameter is a catalog table or a NotTables entry
// (so a re-extraction that brings a new resource fails here until someone
// decides what it is); every table names the path, file and definition the
// files give that path; names follow the path ("/asn/headers" is
// asn_headers); and every scope is one the files declare.
func TestCatalogCoversR39(t *testing.T) {
	resources, err := openapi.ListResources()
	if err != nil {
		t.Fatal(err)
	}
	scopes, err := openapi.Scopes()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]coupa.Table{}
	names := map[string]bool{}
	for _, tb := range coupa.Catalog {
		if names[tb.Name] {
			t.Errorf("table %s is in the catalog twice", tb.Name)
		}
		names[tb.Name] = true
		byPath[tb.Path] = tb
		if want := strings.ReplaceAll(strings.TrimPrefix(tb.Path, "/api/"), "/", "_"); tb.Name != want {
			t.Errorf("table %s lists %s: its name should be %s", tb.Name, tb.Path, want)
		}
		// core.requisition.read is the one scope the files leave out (they
		// declare only core.requisition.write); Coupa's scope list and
		// coupa-api.md name it.
		if _, ok := scopes[tb.Scope]; !ok && tb.Scope != "core.requisition.read" {
			t.Errorf("table %s: scope %q is not declared by the R39 files", tb.Name, tb.Scope)
		}
		if tb.AvroName == "" || strings.ContainsAny(tb.AvroName, "-_ ") {
			t.Errorf("table %s: Avro name %q", tb.Name, tb.AvroName)
		}
	}
	not := map[string]string{}
	for _, n := range coupa.NotTables {
		not[n.Path] = n.Reason
	}
	seen := map[string]bool{}
	for _, r := range resources {
		path := "/api" + r.Path
		seen[path] = true
		tb, isTable := byPath[path]
		_, isNot := not[path]
		switch {
		case isTable && isNot:
			t.Errorf("%s is both a table and in NotTables", path)
		case isTable && (tb.OpenAPIFile != r.File || tb.Definition != r.Definition):
			t.Errorf("table %s: %s#%s, but %s answers %s#%s", tb.Name, tb.OpenAPIFile, tb.Definition, path, r.File, r.Definition)
		case !isTable && !isNot:
			t.Errorf("%s (%s) is neither a catalog table nor in NotTables", path, r.File)
		}
	}
	for path := range byPath {
		if !seen[path] {
			t.Errorf("catalog table at %s: no such list resource in the R39 files", path)
		}
	}
	for path := range not {
		if !seen[path] {
			t.Errorf("NotTables lists %s: no such resource in the R39 files", path)
		}
	}
	if len(coupa.Catalog) < 70 {
		t.Errorf("the catalog has %d tables; R39 has about 70 list resources", len(coupa.Catalog))
	}
}

// TestCatalogModes pins the tables read by full refresh, and that every
// incremental table's definition has an updated-at to read by.
func TestCatalogModes(t *testing.T) {
	var full []string
	for _, tb := range coupa.Catalog {
		_, def, err := openapi.LoadDefinition(tb.OpenAPIFile, tb.Definition)
		if err != nil {
			t.Fatal(err)
		}
		_, hasUpdatedAt := def.Property("updated-at")
		if _, hasID := def.Property("id"); !hasID {
			t.Errorf("%s: %s has no id", tb.Name, tb.Definition)
		}
		if hasUpdatedAt != tb.HasUpdatedAt() {
			t.Errorf("%s: HasUpdatedAt %v, but the definition says %v", tb.Name, tb.HasUpdatedAt(), hasUpdatedAt)
		}
		if tb.Mode == coupa.FullRefresh {
			full = append(full, tb.Name)
		} else if !hasUpdatedAt {
			t.Errorf("%s is incremental but %s has no updated-at", tb.Name, tb.Definition)
		}
	}
	if got := strings.Join(full, ","); got != "budget_line_adjustments,budget_lines,currencies" {
		t.Errorf("full refresh tables: %s", got)
	}
}

func TestLookupTable(t *testing.T) {
	if tb, err := coupa.LookupTable("exchange_rates"); err != nil || tb.Kind != coupa.Reference {
		t.Errorf("exchange_rates: %+v, %v", tb, err)
	}
	_, err := coupa.LookupTable("invoice_lines")
	if err == nil || !strings.Contains(err.Error(), "line topic of table invoices") {
		t.Errorf("invoice_lines: %v", err)
	}
	if _, err := coupa.LookupTable("nope"); err == nil {
		t.Error("unknown table accepted")
	}
	if coupa.TableNames() != "invoices,purchase_orders,requisitions,suppliers,contracts,expense_reports,users,approvals" {
		t.Errorf("default tables: %s", coupa.TableNames())
	}
}
