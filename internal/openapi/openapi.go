// Package openapi reads the subset of Coupa's official R39 OpenAPI (Swagger
// 2.0) definitions that coupa-kafka needs: the eight synced objects and every
// definition they reference. The JSON files in r39/ are copied unchanged from
// Coupa's published files by ./extract; both the Avro schema generator and the
// Coupa simulator shape their output from them, so the two cannot drift apart.
package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:embed r39/*.json
var files embed.FS

// Property is one property of a definition, as the OpenAPI file states it.
type Property struct {
	// Name is Coupa's JSON key, hyphenated as Coupa sends it ("created-at").
	Name        string
	Type        string // "string", "integer", "number", "boolean", "array", "object" or ""
	Format      string // e.g. "datetime", "decimal(30,4)", "string(255)", "integer"
	Description string
	// Ref names the referenced definition of an association ("Supplier").
	Ref string
	// Items describes the elements of an array property.
	Items *Property
	Enum  []string
}

// IsAssociation reports whether the property is a single nested object.
func (p Property) IsAssociation() bool { return p.Ref != "" }

// IsArrayOfObjects reports whether the property is an array of definitions.
func (p Property) IsArrayOfObjects() bool {
	return p.Type == "array" && p.Items != nil && p.Items.Ref != ""
}

// Definition is one object definition with its properties sorted by name.
type Definition struct {
	Name       string
	Properties []Property
}

// Property returns the named property.
func (d *Definition) Property(name string) (Property, bool) {
	i := sort.Search(len(d.Properties), func(i int) bool { return d.Properties[i].Name >= name })
	if i < len(d.Properties) && d.Properties[i].Name == name {
		return d.Properties[i], true
	}
	return Property{}, false
}

// Doc is one OpenAPI file's definitions. Definition names are only unique
// within one file (several files define their own "Approval").
type Doc struct {
	File        string
	Definitions map[string]*Definition
}

// Definition returns the named definition or an error naming the file.
func (d *Doc) Definition(name string) (*Definition, error) {
	def, ok := d.Definitions[name]
	if !ok {
		return nil, fmt.Errorf("openapi: %s has no definition %q", d.File, name)
	}
	return def, nil
}

var (
	mu    sync.Mutex
	cache = map[string]*Doc{}
)

// Load parses (once) the named R39 file, e.g. "R39_Invoicing_API.json".
func Load(file string) (*Doc, error) {
	mu.Lock()
	defer mu.Unlock()
	if d, ok := cache[file]; ok {
		return d, nil
	}
	b, err := files.ReadFile("r39/" + file)
	if err != nil {
		return nil, fmt.Errorf("openapi: no embedded file %q", file)
	}
	d, err := parse(file, b)
	if err != nil {
		return nil, err
	}
	cache[file] = d
	return d, nil
}

// LoadDefinition loads file and returns it with its definition name: the
// lookup every user of a table's definition starts with.
func LoadDefinition(file, name string) (*Doc, *Definition, error) {
	doc, err := Load(file)
	if err != nil {
		return nil, nil, err
	}
	def, err := doc.Definition(name)
	if err != nil {
		return nil, nil, err
	}
	return doc, def, nil
}

type rawProp struct {
	Type        json.RawMessage `json:"type"`
	Format      string          `json:"format"`
	Description string          `json:"description"`
	Ref         string          `json:"$ref"`
	Items       *rawProp        `json:"items"`
	Enum        []any           `json:"enum"`
}

func parse(file string, b []byte) (*Doc, error) {
	var raw struct {
		Definitions map[string]struct {
			Properties map[string]*rawProp `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", file, err)
	}
	doc := &Doc{File: file, Definitions: map[string]*Definition{}}
	for name, rd := range raw.Definitions {
		def := &Definition{Name: name}
		for pname, rp := range rd.Properties {
			if rp == nil {
				continue
			}
			p := convert(rp)
			p.Name = pname
			def.Properties = append(def.Properties, p)
		}
		sort.Slice(def.Properties, func(i, j int) bool { return def.Properties[i].Name < def.Properties[j].Name })
		doc.Definitions[name] = def
	}
	return doc, nil
}

func convert(rp *rawProp) Property {
	p := Property{
		Format:      rp.Format,
		Description: strings.TrimSpace(rp.Description),
		Ref:         strings.TrimPrefix(rp.Ref, "#/definitions/"),
	}
	// A handful of properties are themselves named "type", and a few
	// definitions carry a non-string "type"; only a plain string counts.
	var t string
	if json.Unmarshal(rp.Type, &t) == nil {
		p.Type = t
	}
	if rp.Items != nil {
		it := convert(rp.Items)
		p.Items = &it
	}
	for _, e := range rp.Enum {
		p.Enum = append(p.Enum, fmt.Sprint(e))
	}
	return p
}

// ListResource is a GET operation on a path without parameters, as an R39
// file declares it: a list resource, or a user view or search that looks
// like one.
type ListResource struct {
	File string
	Path string // as the file writes it: "/exchange_rates", below /api
	// Definition is the element definition when the operation answers an
	// array ("ExchangeRate"); empty when the file gives no array.
	Definition string
}

// ListResources returns the list resources of every embedded R39 file,
// sorted by file and path.
func ListResources() ([]ListResource, error) {
	var out []ListResource
	for _, file := range Files() {
		var raw struct {
			Paths map[string]struct {
				Get struct {
					Responses map[string]struct {
						Schema struct {
							Type  string `json:"type"`
							Items struct {
								Ref string `json:"$ref"`
							} `json:"items"`
						} `json:"schema"`
					} `json:"responses"`
				} `json:"get"`
			} `json:"paths"`
		}
		if err := unmarshalFile(file, &raw); err != nil {
			return nil, err
		}
		for path, op := range raw.Paths {
			r := ListResource{File: file, Path: path}
			if s := op.Get.Responses["200"].Schema; s.Type == "array" {
				r.Definition = strings.TrimPrefix(s.Items.Ref, "#/definitions/")
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// Scopes returns the OAuth scopes the embedded R39 files declare (their
// securityDefinitions), with Coupa's description of each.
func Scopes() (map[string]string, error) {
	out := map[string]string{}
	for _, file := range Files() {
		var raw struct {
			Security map[string]struct {
				Scopes map[string]string `json:"scopes"`
			} `json:"securityDefinitions"`
		}
		if err := unmarshalFile(file, &raw); err != nil {
			return nil, err
		}
		for _, flow := range raw.Security {
			for s, desc := range flow.Scopes {
				out[s] = desc
			}
		}
	}
	return out, nil
}

// Files lists the embedded R39 files, sorted.
func Files() []string {
	ents, _ := files.ReadDir("r39")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func unmarshalFile(file string, v any) error {
	b, err := files.ReadFile("r39/" + file)
	if err != nil {
		return fmt.Errorf("openapi: no embedded file %q", file)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("openapi: %s: %w", file, err)
	}
	return nil
}
