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
	want := map[string]func(coupa.Table) ([]byte, error){}
	for _, tb := range coupa.Tables {
		want[tb.Name] = avscgen.Generate
		if tb.LineTopic != "" {
			want[tb.LineTopic] = avscgen.GenerateLines
		}
	}
	files, _ := filepath.Glob("avsc/*.avsc")
	if len(files) != len(want) {
		t.Errorf("avsc/ has %d files, want one per table and line topic (%d)", len(files), len(want))
	}
	for _, tb := range coupa.Tables {
		for name, gen := range want {
			if name != tb.Name && name != tb.LineTopic {
				continue
			}
			b, err := gen(tb)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join("avsc", name+".avsc"))
			if err != nil {
				t.Fatalf("%s: %v (run go generate ./schemas)", name, err)
			}
			if string(got) != string(b) {
				t.Errorf("avsc/%s.avsc differs from the generator's output: run go generate ./schemas", name)
			}
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
