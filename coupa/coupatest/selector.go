package coupatest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// selector is a parsed fields=[...] parameter: a nil selector selects
// everything; otherwise only the listed keys, with nested lists for
// associations and lines ({"invoice-lines":["id"]}).
type selector struct {
	keys map[string]*selector // nil value: the whole key
}

// child reports whether key is selected and the selector for its content.
func (s *selector) child(key string) (bool, *selector) {
	if s == nil {
		return true, nil
	}
	sub, ok := s.keys[key]
	return ok, sub
}

// parseFields parses Coupa's fields parameter. Keys may be written with
// underscores or hyphens.
func parseFields(raw string) (*selector, error) {
	var v []any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, fmt.Errorf("is not a JSON array of field names")
	}
	return buildSelector(v)
}

func buildSelector(items []any) (*selector, error) {
	s := &selector{keys: map[string]*selector{}}
	for _, it := range items {
		switch x := it.(type) {
		case string:
			s.keys[hyphenate(x)] = nil
		case map[string]any:
			for k, sub := range x {
				list, ok := sub.([]any)
				if !ok {
					return nil, fmt.Errorf("nested fields of %q must be an array", k)
				}
				child, err := buildSelector(list)
				if err != nil {
					return nil, err
				}
				s.keys[hyphenate(k)] = child
			}
		default:
			return nil, fmt.Errorf("has an entry that is neither a name nor an object")
		}
	}
	return s, nil
}

func hyphenate(s string) string { return strings.ReplaceAll(s, "_", "-") }
