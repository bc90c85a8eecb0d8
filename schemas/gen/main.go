// Command gen writes schemas/avsc/<table>.avsc for every table of
// coupa.Catalog, and <line topic>.avsc for the lines of those that have
// lines, from Coupa's R39 OpenAPI definitions. Run it with `go generate ./schemas`; the
// output is committed so that every schema change shows up in a diff, and
// a golden test fails when the committed files and the generator disagree.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/schemas/internal/avscgen"
)

func main() {
	out := flag.String("out", "avsc", "directory to write the .avsc files to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range coupa.Catalog {
		b, err := avscgen.Generate(t)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, t.Name+".avsc"), b, 0o644); err != nil {
			return err
		}
		if t.LineTopic == "" {
			continue
		}
		if b, err = avscgen.GenerateLines(t); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, t.LineTopic+".avsc"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
