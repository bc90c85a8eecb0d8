package schemas

import (
	"embed"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
)

//go:generate go run ./gen -out avsc

//go:embed avsc/*.avsc
var avscFiles embed.FS

// Table is one table's value schema and its compiled conversion plan. A
// Table is immutable and safe for concurrent use.
type Table struct {
	name   string
	text   string
	schema avro.Schema
	root   *recordPlan
	pool   sync.Pool              // *encodeState
	redact *redactor              // nil: the JSON is converted as it comes
	recs   map[string]*recordPlan // every record's plan, by full name
	// resolved caches, by writer schema text, the schemas ToJSONFrom
	// reads other versions' data with.
	resolved sync.Map

	// base and learned: the generated table t extends, and what it
	// learned beyond it (see learn.go); nil for a generated table.
	base    *Table
	learned learning
}

var (
	loadMu sync.Mutex
	loaded = map[string]*Table{}
)

// Load returns the table's embedded schema, parsed and compiled into a
// conversion plan. Tables are compiled once and cached: repeated calls
// return the same *Table.
func Load(table string) (*Table, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if t, ok := loaded[table]; ok {
		return t, nil
	}
	b, err := avscFiles.ReadFile("avsc/" + table + ".avsc")
	if err != nil {
		return nil, fmt.Errorf("schemas: no schema for table %q (known: %s)", table, strings.Join(Tables(), ","))
	}
	t, err := NewTable(table, string(b))
	if err != nil {
		return nil, err
	}
	loaded[table] = t
	return t, nil
}

// Published is the table as coupa-kafka publishes it: Load's schema with r
// applied before every conversion, or DefaultRedaction when r is nil.
// Everything that converts a Coupa record for Kafka, or checks a topic
// against Coupa's truth, uses it.
func Published(table string, r *Redaction) (*Table, error) {
	t, err := Load(table)
	if err != nil {
		return nil, err
	}
	if r == nil {
		d := DefaultRedaction(table)
		r = &d
	}
	return t.Redacted(*r)
}

// NewTable compiles a table from schema text. Load is what production code
// wants; NewTable exists for schema-evolution tests and tools that hold a
// schema other than the embedded one.
func NewTable(name, schemaText string) (*Table, error) {
	// A private cache: hamba's default cache is global and keyed by full
	// name, so two versions of coupa.Invoice would overwrite each other.
	s, err := avro.ParseWithCache(schemaText, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schemas: %s: parsing schema: %w", name, err)
	}
	rs, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("schemas: %s: schema is %s, not a record", name, s.Type())
	}
	c := &compiler{recs: map[string]*recordPlan{}}
	root, err := c.record(rs)
	if err != nil {
		return nil, fmt.Errorf("schemas: %s: %w", name, err)
	}
	if root.id < 0 {
		return nil, fmt.Errorf("schemas: %s: top-level record has no required long field \"id\"", name)
	}
	return &Table{name: name, text: schemaText, schema: s, root: root, recs: c.recs}, nil
}

// Tables lists the tables with an embedded schema, sorted.
func Tables() []string {
	ents, _ := avscFiles.ReadDir("avsc")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".avsc"))
	}
	sort.Strings(out)
	return out
}

// Name is the table's name ("invoices").
func (t *Table) Name() string { return t.name }

// Schema is the parsed value schema.
func (t *Table) Schema() avro.Schema { return t.schema }

// SchemaText is the schema exactly as committed in avsc/<table>.avsc; it is
// what gets registered, so the registry shows the field docs too.
func (t *Table) SchemaText() string { return t.text }
