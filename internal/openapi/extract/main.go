// Command extract copies, from Coupa's official R39 OpenAPI files, the
// definitions of every catalog table and every definition they reference
// (transitively), the GET operations of the list resources (paths without
// parameters: what the catalog test checks the catalog against) and the
// scopes the files declare into internal/openapi/r39, so the repo never
// depends on the reference files at run time. The output keeps each
// definition unchanged.
//
//	go run ./internal/openapi/extract -src ../shared/coupa-openapi -dst internal/openapi/r39
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

func main() {
	src := flag.String("src", "../shared/coupa-openapi", "folder holding the R39_*.json files")
	dst := flag.String("dst", "internal/openapi/r39", "output folder")
	flag.Parse()
	if err := run(*src, *dst); err != nil {
		fmt.Fprintln(os.Stderr, "extract:", err)
		os.Exit(1)
	}
}

func run(src, dst string) error {
	roots := map[string][]string{} // file -> root definitions
	for _, t := range coupa.Catalog {
		roots[t.OpenAPIFile] = append(roots[t.OpenAPIFile], t.Definition)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for file, names := range roots {
		var doc struct {
			Definitions map[string]json.RawMessage            `json:"definitions"`
			Paths       map[string]map[string]json.RawMessage `json:"paths"`
			Security    json.RawMessage                       `json:"securityDefinitions"`
		}
		b, err := os.ReadFile(filepath.Join(src, file))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		keep := closure(doc.Definitions, names)
		out, err := json.MarshalIndent(map[string]any{
			"definitions":         keep,
			"paths":               listResources(doc.Paths),
			"securityDefinitions": doc.Security,
		}, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, file), append(out, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d definitions\n", file, len(keep))
	}
	return nil
}

// listResources keeps the GET operation of every path without a parameter:
// the list resources, and the user views and searches that look like them.
func listResources(paths map[string]map[string]json.RawMessage) map[string]any {
	out := map[string]any{}
	for p, ops := range paths {
		if get, ok := ops["get"]; ok && !strings.Contains(p, "{") {
			out[p] = map[string]json.RawMessage{"get": get}
		}
	}
	return out
}

// closure returns the named definitions and everything they reference.
func closure(defs map[string]json.RawMessage, names []string) map[string]json.RawMessage {
	keep := map[string]json.RawMessage{}
	todo := append([]string(nil), names...)
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if _, ok := keep[n]; ok {
			continue
		}
		raw, ok := defs[n]
		if !ok {
			continue
		}
		keep[n] = raw
		todo = append(todo, refs(raw)...)
	}
	return keep
}

func refs(raw json.RawMessage) []string {
	var v any
	_ = json.Unmarshal(raw, &v)
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if s, ok := v.(string); ok && k == "$ref" {
					out = append(out, strings.TrimPrefix(s, "#/definitions/"))
					continue
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(v)
	sort.Strings(out)
	return out
}
