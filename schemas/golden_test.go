package schemas_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/schemas"
	"github.com/coupa-kafka/coupa-kafka/schemas/internal/avscgen"
)

// TestGoldenAVSC fails when the committed .avsc files are not exactly what
// the generator produces from the OpenAPI definitions now. Fix with
// `go generate ./schemas` and review the diff.
func TestGoldenAVSC(t *testing.T) {
	files, _ := filepath.Glob("avsc/*.avsc")
	if len(files) != len(coupa.Tables) {
		t.Errorf("avsc/ has %d files, want one per table (%d)", len(files), len(coupa.Tables))
	}
	for _, tb := range coupa.Tables {
		want, err := avscgen.Generate(tb)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("avsc", tb.Name+".avsc"))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./schemas)", tb.Name, err)
		}
		if string(got) != string(want) {
			t.Errorf("avsc/%s.avsc differs from the generator's output: run go generate ./schemas", tb.Name)
		}
	}
}

// Every table's schema parses and compiles, and has the contract's
// top-level fields.
func TestLoadEveryTable(t *testing.T) {
	for _, tb := range coupa.Tables {
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
	}
	if _, err := schemas.Load("nope"); err == nil {
		t.Error("Load(nope) succeeded")
	}
}
