package schemas_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/schemas"
	"github.com/coupa-kafka/coupa-kafka/schemas/internal/avscgen"
	"github.com/hamba/avro/v2"
)

// TestGoldenAVSC fails when the committed .avsc files are not exactly what
// the generator produces from the OpenAPI definitions now: a catalog table
// or line topic without its file, a file that differs from the generator's
// output, or a file no catalog table accounts for. Fix with
// `go generate ./schemas` (and delete a stray file) and review the diff.
func TestGoldenAVSC(t *testing.T) {
	want := map[string][]byte{} // file name -> generated text
	for _, tb := range coupa.Catalog {
		b, err := avscgen.Generate(tb)
		if err != nil {
			t.Fatal(err)
		}
		want[tb.Name+".avsc"] = b
		if tb.LineTopic == "" {
			continue
		}
		if b, err = avscgen.GenerateLines(tb); err != nil {
			t.Fatal(err)
		}
		want[tb.LineTopic+".avsc"] = b
	}
	files, err := filepath.Glob("avsc/*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("%s is no catalog table's or line topic's schema: delete it or add its table to coupa.Catalog", f)
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join("avsc", name))
		if err != nil {
			t.Errorf("avsc/%s: %v (run go generate ./schemas)", name, err)
			continue
		}
		if string(got) != string(want[name]) {
			t.Errorf("avsc/%s differs from the generator's output: run go generate ./schemas", name)
		}
	}
	// The embedded set is the committed set.
	if got := schemas.Tables(); len(got) != len(want) {
		t.Errorf("%d embedded schemas, want %d (one per catalog table and line topic)", len(got), len(want))
	}
}

// Every catalog table's schema (and every line topic's) parses, compiles,
// publishes with its default redaction, and has the contract's top-level
// fields: the required long id, updated_at exactly when the table's
// records carry one, custom_fields and extra.
func TestLoadEveryTable(t *testing.T) {
	for _, tb := range coupa.Catalog {
		s, err := schemas.Load(tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name() != tb.Name || s.SchemaText() == "" {
			t.Errorf("%s: name %q", tb.Name, s.Name())
		}
		again, _ := schemas.Load(tb.Name)
		if again != s {
			t.Errorf("%s: Load is not cached", tb.Name)
		}
		if _, err := schemas.Published(tb.Name, nil); err != nil {
			t.Errorf("%s: default redaction: %v", tb.Name, err)
		}
		rs := s.Schema().(*avro.RecordSchema)
		if rs.FullName() != avscgen.RootNamespace+"."+tb.AvroName {
			t.Errorf("%s: record %s, want %s.%s", tb.Name, rs.FullName(), avscgen.RootNamespace, tb.AvroName)
		}
		fields := map[string]*avro.Field{}
		for _, f := range rs.Fields() {
			fields[f.Name()] = f
		}
		if id := fields["id"]; id == nil || id.Type().Type() != avro.Long {
			t.Errorf("%s: no required long id", tb.Name)
		}
		if _, has := fields["updated_at"]; has != tb.HasUpdatedAt() {
			t.Errorf("%s: has updated_at %v, HasUpdatedAt %v", tb.Name, has, tb.HasUpdatedAt())
		}
		for _, name := range []string{"custom_fields", "extra"} {
			if fields[name] == nil {
				t.Errorf("%s: no %s", tb.Name, name)
			}
		}
		if tb.LineTopic != "" {
			if _, err := schemas.Published(tb.LineTopic, nil); err != nil {
				t.Errorf("%s: %v", tb.LineTopic, err)
			}
		}
	}
	if _, err := schemas.Load("nope"); err == nil {
		t.Error("Load(nope) succeeded")
	}
}
