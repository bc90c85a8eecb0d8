package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// Typed custom fields as SQL columns.
//
// Schema evolution adds a `custom` record to every record with
// custom_fields, one optional field per learned custom field (a scalar,
// or a record of a lookup's or user's identifying keys). The JDBC configs
// pick it, Flatten makes custom_<field> columns of it, and auto.evolve adds
// each new one when a schema version brings it. These tests run the
// configs' transform chain (as the files say it, not as the generator
// meant it) over the schemas the producer learns from a record with a
// custom field of every kind, and derive the columns the JDBC sink's
// PostgreSQL dialect creates.

// exampleCustomFields is a custom-fields object with one field of every
// kind the simulator and Coupa have (coupa/coupatest/custom.go), the
// example of deploy/connect/README.md.
const exampleCustomFields = `{
	"cost-center": "CC-1042",
	"tax-exempt": false,
	"headcount": 12,
	"hours-estimate": 7.25,
	"renewal-date": "2026-03-14",
	"contract-signed-at": "2026-01-31T09:00:00-07:00",
	"gl-segment": {"id": 1204, "name": "Marketing 1204", "external-ref-num": "GS-1204", "active": true},
	"budget-owner": {"id": 9001, "login": "user9001", "email": "user9001@example.com", "firstname": "Ana", "lastname": "Smith", "employee-number": "C-123"}
}`

// exampleColumns are the columns exampleCustomFields becomes, with their
// PostgreSQL types as psql's \d shows them.
var exampleColumns = []sqlColumn{
	{"custom_budget_owner_id", "bigint", true},
	{"custom_budget_owner_email", "text", true},
	{"custom_budget_owner_employee_number", "text", true},
	{"custom_budget_owner_login", "text", true},
	{"custom_contract_signed_at", "timestamp without time zone", true},
	{"custom_cost_center", "text", true},
	{"custom_gl_segment_id", "bigint", true},
	{"custom_gl_segment_external_ref_num", "text", true},
	{"custom_gl_segment_name", "text", true},
	{"custom_headcount", "bigint", true},
	{"custom_hours_estimate", "double precision", true},
	{"custom_renewal_date", "date", true},
	{"custom_tax_exempt", "boolean", true},
}

// A column of the sink's table.
type sqlColumn struct {
	name, typ string
	nullable  bool
}

// learnAll evolves t until raw teaches it nothing more, as the producer
// does before it publishes raw.
func learnAll(t *testing.T, tb *schemas.Table, raw string) *schemas.Table {
	t.Helper()
	for range 10 {
		next, err := tb.Learn([]byte(raw))
		if err != nil {
			t.Fatalf("%s: learning %s: %v", tb.Name(), raw, err)
		}
		if next == tb {
			return tb
		}
		tb = next
	}
	t.Fatalf("%s: still learning from %s after 10 versions", tb.Name(), raw)
	return nil
}

func jdbcFileConfig(t *testing.T, table string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("connect", "jdbc-postgres", "coupa-postgres-"+table+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// pgType is the column type the JDBC sink's PostgreSQL dialect gives a
// Connect field (PostgreSqlDatabaseDialect.getSqlType, as \d shows it) of
// the Avro type the AvroConverter read it from; "" for no column type.
func pgType(t any) string {
	switch t := t.(type) {
	case string:
		return map[string]string{"long": "bigint", "int": "integer", "string": "text", "boolean": "boolean",
			"double": "double precision", "float": "real", "bytes": "bytea"}[t]
	case map[string]any:
		switch t["logicalType"] {
		case "timestamp-millis":
			return "timestamp without time zone" // Connect Timestamp -> TIMESTAMP
		case "date":
			return "date" // Connect Date -> DATE
		case "decimal":
			return "numeric" // Connect Decimal -> DECIMAL
		case "time-millis":
			return "time without time zone"
		}
		switch t["type"] {
		case "enum":
			return "text"
		case "fixed":
			return "bytea"
		case "record", "array", "map":
			return ""
		}
		return pgType(t["type"])
	}
	return ""
}

// sinkColumns runs cfg's transforms (Cast$Key, ReplaceField include and
// renames, Flatten with "_", ReplaceField exclude) over the value schema
// text and returns the table the JDBC sink makes of the result: the key's
// id first, then every value column in schema order.
func sinkColumns(schemaText string, cfg map[string]string) ([]sqlColumn, error) {
	var top map[string]any
	if err := json.Unmarshal([]byte(schemaText), &top); err != nil {
		return nil, err
	}
	switch cfg["transforms"] {
	case "keyToLong,pick,flatten", "keyToLong,pick,flatten,drop":
	default:
		return nil, fmt.Errorf("transforms %q: this check knows keyToLong,pick,flatten[,drop]", cfg["transforms"])
	}
	if cfg["transforms.flatten.delimiter"] != "_" || cfg["fields.whitelist"] != "" || cfg["pk.mode"] != "record_key" || cfg["pk.fields"] != "id" {
		return nil, fmt.Errorf("unexpected flatten delimiter, fields.whitelist or primary key settings")
	}
	include := splitList(cfg["transforms.pick.include"])
	renames := map[string]string{}
	for _, r := range splitList(cfg["transforms.pick.renames"]) {
		from, to, _ := strings.Cut(r, ":")
		renames[from] = to
	}
	exclude := splitList(cfg["transforms.drop.exclude"])
	set := newSchemaSet(top)
	var cols []sqlColumn
	var flatten func(name string, t any, parentOptional bool) error
	flatten = func(name string, t any, parentOptional bool) error {
		r, optional, err := set.resolve(t)
		if err != nil {
			return err
		}
		optional = optional || parentOptional // Flatten: a field of an optional struct is optional
		if rec, ok := r.(map[string]any); ok && rec["type"] == "record" {
			for _, f := range rec["fields"].([]any) {
				fm := f.(map[string]any)
				if err := flatten(name+"_"+fm["name"].(string), fm["type"], optional); err != nil {
					return err
				}
			}
			return nil
		}
		cols = append(cols, sqlColumn{name, pgType(r), optional})
		return nil
	}
	for _, f := range top["fields"].([]any) {
		fm := f.(map[string]any)
		name := fm["name"].(string)
		if !slices.Contains(include, name) {
			continue
		}
		if to, ok := renames[name]; ok {
			name = to
		}
		if err := flatten(name, fm["type"], false); err != nil {
			return nil, err
		}
	}
	out := []sqlColumn{{"id", "bigint", false}} // pk.mode=record_key: the key, cast to int64
	seen := map[string]bool{}
	for _, c := range cols {
		if seen[c.name] {
			return nil, fmt.Errorf("Flatten makes two fields %s: the task would fail", c.name)
		}
		seen[c.name] = true
		switch {
		case slices.Contains(exclude, c.name):
		case c.typ == "":
			return nil, fmt.Errorf("column %s is a map or an array: the JDBC sink refuses it", c.name)
		case len(c.name) > 63:
			return nil, fmt.Errorf("column %s is longer than PostgreSQL's 63-byte identifiers", c.name)
		case c.name == "id":
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func columnNames(cols []sqlColumn) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// Every JDBC config, applied to the schemas the producer learns, gives the
// columns of the generated schema unchanged plus one custom_* column per
// typed custom field (a lookup's and a user's identifying keys each a
// column), of the PostgreSQL type the Avro type maps to; a custom field
// learned later adds its column at the end (auto.evolve's ALTER TABLE);
// keys promoted out of extra stay out.
func TestJDBCPostgresTakesLearnedCustomFields(t *testing.T) {
	for _, table := range tables {
		base, err := schemas.Published(table, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := jdbcFileConfig(t, table)
		record := `{"id": 1, "esg-category": "green", "custom-fields": ` + exampleCustomFields + `}`
		learned := learnAll(t, base, record)
		if !strings.Contains(learned.SchemaText(), `"esg_category"`) {
			t.Fatalf("%s: the producer did not promote esg-category: the test's premise changed", table)
		}
		later := learnAll(t, learned, `{"id": 1, "custom-fields": {"carbon-kg": 2.5}}`)

		baseCols, err := sinkColumns(base.SchemaText(), cfg)
		if err != nil {
			t.Fatalf("%s, generated schema: %v", table, err)
		}
		learnedCols, err := sinkColumns(learned.SchemaText(), cfg)
		if err != nil {
			t.Fatalf("%s, learned schema: %v", table, err)
		}
		laterCols, err := sinkColumns(later.SchemaText(), cfg)
		if err != nil {
			t.Fatalf("%s, schema with carbon-kg: %v", table, err)
		}
		cols, _ := jdbcColumnsFor(table)
		if got, meant := columnNames(baseCols), slices.Clone(cols.columns); !slices.Equal(sorted(got), sorted(meant)) {
			t.Errorf("%s: the config makes columns %v of the generated schema, the generator meant %v", table, got, meant)
		}
		var added []sqlColumn
		for _, c := range learnedCols {
			if !slices.Contains(baseCols, c) {
				added = append(added, c)
			}
		}
		for _, c := range baseCols {
			if !slices.Contains(learnedCols, c) {
				t.Errorf("%s: column %+v is gone (or changed) under the learned schema", table, c)
			}
		}
		sortCols := func(cs []sqlColumn) []sqlColumn {
			cs = slices.Clone(cs)
			slices.SortFunc(cs, func(a, b sqlColumn) int { return strings.Compare(a.name, b.name) })
			return cs
		}
		if !slices.Equal(sortCols(added), sortCols(exampleColumns)) {
			t.Errorf("%s: the learned schema adds columns\n  %v\nwant\n  %v", table, added, exampleColumns)
		}
		// Learned fields are in name order, so a later one may sit between
		// earlier ones in the record; auto.evolve adds the missing column
		// (ALTER TABLE ... ADD) wherever it sits.
		want := append(slices.Clone(learnedCols), sqlColumn{"custom_carbon_kg", "double precision", true})
		if !slices.Equal(sortCols(laterCols), sortCols(want)) {
			t.Errorf("%s: a custom field learned later gives columns %v, want the earlier ones and custom_carbon_kg", table, laterCols)
		}
		if table == "invoices" && testing.Verbose() {
			t.Logf("what auto.create and auto.evolve issue for %s:\n%s\nALTER TABLE \"coupa\".\"invoices\" ADD \"custom_carbon_kg\" DOUBLE PRECISION NULL", table, createTable("coupa.invoices", learnedCols))
		}
	}
}

// createTable is the statement GenericDatabaseDialect.buildCreateTableStatement
// writes for cols (types in the dialect's spelling).
func createTable(table string, cols []sqlColumn) string {
	var b strings.Builder
	schema, name, _ := strings.Cut(table, ".")
	fmt.Fprintf(&b, "CREATE TABLE %q.%q (\n", schema, name)
	for _, c := range cols {
		typ := map[string]string{"timestamp without time zone": "TIMESTAMP", "numeric": "DECIMAL", "time without time zone": "TIME", "integer": "INT"}[c.typ]
		if typ == "" {
			typ = strings.ToUpper(c.typ)
		}
		null := "NULL"
		if !c.nullable {
			null = "NOT NULL"
		}
		fmt.Fprintf(&b, "%q %s %s,\n", c.name, typ, null)
	}
	b.WriteString(`PRIMARY KEY("id"))`)
	return b.String()
}

// The README's \d listing of invoices shows what the test derives: every
// column it lists has that type, and its custom_* columns are exactly
// those of the example plus custom_carbon_kg.
func TestConnectReadmeCustomColumnsListing(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("connect", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```text\n( *Table \"coupa.invoices\"\n.*?)```").FindSubmatch(b)
	if block == nil {
		t.Fatal(`connect/README.md has no text block with a \d listing of Table "coupa.invoices"`)
	}
	base, err := schemas.Published("invoices", nil)
	if err != nil {
		t.Fatal(err)
	}
	learned := learnAll(t, base, `{"id": 1, "custom-fields": `+exampleCustomFields+`}`)
	later := learnAll(t, learned, `{"id": 1, "custom-fields": {"carbon-kg": 2.5}}`)
	cols, err := sinkColumns(later.SchemaText(), jdbcFileConfig(t, "invoices"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]sqlColumn{}
	for _, c := range cols {
		byName[c.name] = c
	}
	row := regexp.MustCompile(`(?m)^ (\w+) +\| ([a-z ]+?) +\| +\| ([a-z ]*?) *\|`)
	var listed []string
	for _, m := range row.FindAllStringSubmatch(string(block[1]), -1) {
		c, ok := byName[m[1]]
		switch {
		case !ok:
			t.Errorf("README lists column %s, which the invoices config does not make", m[1])
		case c.typ != m[2]:
			t.Errorf("README lists %s as %s, the sink makes it %s", m[1], m[2], c.typ)
		case c.nullable != (m[3] == ""):
			t.Errorf("README lists %s as %q, the sink makes it nullable=%v", m[1], m[3], c.nullable)
		}
		if strings.HasPrefix(m[1], "custom_") {
			listed = append(listed, m[1])
		}
	}
	// The table's order: the first version's columns as auto.create made
	// them, then those a later version added (auto.evolve appends).
	first, err := sinkColumns(learned.SchemaText(), jdbcFileConfig(t, "invoices"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, cs := range [][]sqlColumn{first, cols} {
		for _, c := range cs {
			if strings.HasPrefix(c.name, "custom_") && !slices.Contains(want, c.name) {
				want = append(want, c.name)
			}
		}
	}
	if !slices.Equal(listed, want) {
		t.Errorf("README's custom_* columns:\n  %v\nthe table's, in order:\n  %v", listed, want)
	}
}
