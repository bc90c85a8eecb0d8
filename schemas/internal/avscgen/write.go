package avscgen

import (
	"encoding/json"
	"strconv"
	"strings"
)

// kv and obj are an ordered JSON object, so the output's key order is fixed
// (name, type, default, doc) and reads naturally in a review.
type kv struct {
	k string
	v any
}

type obj []kv

func (o obj) get(k string) any {
	for _, e := range o {
		if e.k == k {
			return e.v
		}
	}
	return nil
}

// write prints v as JSON: a value that contains no record definition goes on
// one line (so each field is one line and a diff shows one line per changed
// field); records are expanded with their fields one per line.
func write(b *strings.Builder, v any, indent int) {
	if !hasRecord(v) {
		writeCompact(b, v)
		return
	}
	pad := strings.Repeat("  ", indent)
	switch v := v.(type) {
	case obj:
		b.WriteString("{\n")
		for i, e := range v {
			b.WriteString(pad + "  ")
			writeString(b, e.k)
			b.WriteString(": ")
			if e.k == "fields" {
				writeList(b, e.v.([]any), indent+1)
			} else {
				write(b, e.v, indent+1)
			}
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(pad + "}")
	case []any:
		writeList(b, v, indent)
	}
}

// writeList expands a list one element per line.
func writeList(b *strings.Builder, v []any, indent int) {
	pad := strings.Repeat("  ", indent)
	b.WriteString("[\n")
	for i, e := range v {
		b.WriteString(pad + "  ")
		write(b, e, indent+1)
		if i < len(v)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(pad + "]")
}

func hasRecord(v any) bool {
	switch v := v.(type) {
	case obj:
		if v.get("type") == "record" {
			return true
		}
		for _, e := range v {
			if hasRecord(e.v) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasRecord(e) {
				return true
			}
		}
	}
	return false
}

func writeCompact(b *strings.Builder, v any) {
	switch v := v.(type) {
	case obj:
		b.WriteByte('{')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, e.k)
			b.WriteString(": ")
			writeCompact(b, e.v)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCompact(b, e)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	default:
		panic("avscgen: unexpected value type")
	}
}

func writeString(b *strings.Builder, s string) {
	out, _ := json.Marshal(s) // strings always marshal
	b.Write(out)
}
