package deploy_test

// A small reader for the block-style YAML that helm renders from this chart
// and that docker-compose.yaml is written in: block mappings and sequences
// (including sequences at their parent key's indentation), plain, single- and
// double-quoted scalars, empty flow collections, simple flow sequences and
// literal/folded block scalars. It is no general YAML parser; it exists so
// the tests can assert on structure without a dependency in the main module.

import (
	"fmt"
	"strconv"
	"strings"
)

type yamlLine struct {
	indent int
	text   string
	no     int
}

// parseYAMLDocs splits a multi-document stream on "---" and parses each
// non-empty document.
func parseYAMLDocs(s string) ([]any, error) {
	var docs []any
	var cur []string
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		v, err := parseYAML(strings.Join(cur, "\n"))
		cur = nil
		if err != nil {
			return err
		}
		if v != nil {
			docs = append(docs, v)
		}
		return nil
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimRight(l, " ") == "---" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		cur = append(cur, l)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

func parseYAML(s string) (any, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(s, "\n") {
		raw = strings.TrimRight(raw, " \t\r")
		t := strings.TrimLeft(raw, " ")
		if t == "" || strings.HasPrefix(t, "#") {
			// Blank and comment lines; inside a block scalar a line starting
			// with '#' would be lost, which the files tested here never have.
			continue
		}
		if strings.HasPrefix(t, "\t") {
			return nil, fmt.Errorf("line %d: tab indentation", i+1)
		}
		lines = append(lines, yamlLine{indent: len(raw) - len(t), text: t, no: i + 1})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	p := &yamlParser{lines: lines}
	v, err := p.block(0, lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.lines) {
		l := p.lines[p.i]
		return nil, fmt.Errorf("line %d: unexpected %q at indent %d", l.no, l.text, l.indent)
	}
	return v, nil
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

func isSeqItem(t string) bool { return t == "-" || strings.HasPrefix(t, "- ") }

func (p *yamlParser) block(i, indent int) (any, error) {
	p.i = i
	if isSeqItem(p.lines[i].text) {
		return p.seq(indent)
	}
	return p.mapping(indent)
}

// splitKey finds "key: rest" or "key:"; ok is false for a plain scalar.
func splitKey(t string) (key, rest string, ok bool) {
	if t == "" || strings.ContainsRune("[{", rune(t[0])) {
		return "", "", false
	}
	if t[0] == '"' || t[0] == '\'' {
		end := strings.IndexByte(t[1:], t[0])
		if end < 0 {
			return "", "", false
		}
		end++
		after := t[end+1:]
		if after == ":" || strings.HasPrefix(after, ": ") {
			k, err := scalarString(t[:end+1])
			if err != nil {
				return "", "", false
			}
			return k, strings.TrimSpace(strings.TrimPrefix(after, ":")), true
		}
		return "", "", false
	}
	if j := strings.Index(t, ": "); j >= 0 {
		return t[:j], strings.TrimSpace(t[j+2:]), true
	}
	if strings.HasSuffix(t, ":") {
		return t[:len(t)-1], "", true
	}
	return "", "", false
}

func (p *yamlParser) mapping(indent int) (any, error) {
	m := map[string]any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent || (l.indent == indent && isSeqItem(l.text)) {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: bad indentation of %q", l.no, l.text)
		}
		k, rest, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("line %d: expected key: value, got %q", l.no, l.text)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.no, k)
		}
		p.i++
		v, err := p.value(rest, indent, l.no)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// value parses what follows "key:" (or "- ") on a line whose block has the
// given indentation.
func (p *yamlParser) value(rest string, indent, no int) (any, error) {
	switch {
	case rest == "":
		if p.i < len(p.lines) {
			n := p.lines[p.i]
			if n.indent > indent || (n.indent == indent && isSeqItem(n.text)) {
				return p.block(p.i, n.indent)
			}
		}
		return nil, nil
	case strings.HasPrefix(rest, "|") || strings.HasPrefix(rest, ">"):
		var b []string
		base := -1
		for p.i < len(p.lines) && p.lines[p.i].indent > indent {
			l := p.lines[p.i]
			if base < 0 {
				base = l.indent
			}
			b = append(b, strings.Repeat(" ", max(0, l.indent-base))+l.text)
			p.i++
		}
		sep := "\n"
		if rest[0] == '>' {
			sep = " "
		}
		s := strings.Join(b, sep)
		if !strings.HasSuffix(rest, "-") {
			s += "\n"
		}
		return s, nil
	default:
		return scalar(rest, no)
	}
}

func (p *yamlParser) seq(indent int) (any, error) {
	var out []any
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent != indent || !isSeqItem(l.text) {
			if l.indent > indent {
				return nil, fmt.Errorf("line %d: bad indentation of %q", l.no, l.text)
			}
			break
		}
		content := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if _, _, isMap := splitKey(content); isMap {
			// "- key: value" opens a mapping indented at the content.
			p.lines[p.i] = yamlLine{indent: indent + len(l.text) - len(content), text: content, no: l.no}
			v, err := p.mapping(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		p.i++
		v, err := p.value(content, indent, l.no)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func scalarString(s string) (string, error) {
	switch {
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		return strconv.Unquote(s)
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	return s, nil
}

func scalar(s string, no int) (any, error) {
	switch {
	case s == "{}":
		return map[string]any{}, nil
	case s == "[]":
		return []any{}, nil
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		var out []any
		for _, part := range strings.Split(s[1:len(s)-1], ",") {
			v, err := scalar(strings.TrimSpace(part), no)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case strings.HasPrefix(s, "{"):
		return nil, fmt.Errorf("line %d: flow mappings are not supported: %q", no, s)
	case s[0] == '"' || s[0] == '\'':
		v, err := scalarString(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v in %q", no, err, s)
		}
		return v, nil
	case s == "true":
		return true, nil
	case s == "false":
		return false, nil
	case s == "null" || s == "~":
		return nil, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if j := strings.Index(s, " #"); j >= 0 {
		s = strings.TrimSpace(s[:j])
	}
	return s, nil
}

// dig walks maps by key and sequences by int index.
func dig(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}
