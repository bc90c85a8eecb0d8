package coupa

import (
	"bytes"
	"encoding/json"
)

// A page of 50 invoices is most of a megabyte; change capture only needs two
// fields of each record. These helpers walk a document that json.Valid has
// already accepted, so they only track strings and nesting: one light pass
// instead of decoding every record with encoding/json.

// arrayElements calls fn with each element of a valid JSON array, as
// sub-slices of b (no copies).
func arrayElements(b []byte, fn func(elem []byte) error) error {
	i := skipWS(b, 1)
	if b[i] == ']' {
		return nil
	}
	for {
		start := i
		i = skipValue(b, i)
		if err := fn(b[start:i]); err != nil {
			return err
		}
		i = skipWS(b, i)
		if b[i] == ']' {
			return nil
		}
		i = skipWS(b, i+1) // past ','
	}
}

// headFields returns the raw values of the top-level keys "id" and
// "updated-at" of a valid JSON object (nil when absent; the last one when a
// key repeats, as encoding/json does), and false when obj is not an object.
func headFields(obj []byte) (id, updatedAt []byte, isObject bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, nil, false
	}
	i := skipWS(obj, 1)
	if obj[i] == '}' {
		return nil, nil, true
	}
	for {
		kstart := i
		i = skipString(obj, i)
		key := obj[kstart+1 : i-1]
		i = skipWS(obj, i)   // at ':'
		i = skipWS(obj, i+1) // at the value
		vstart := i
		i = skipValue(obj, i)
		if bytes.IndexByte(key, '\\') >= 0 {
			key = unquoteKey(obj[kstart:])
		}
		switch {
		case string(key) == "id": // comparisons, not conversions: no allocation
			id = obj[vstart:i]
		case string(key) == "updated-at":
			updatedAt = obj[vstart:i]
		}
		i = skipWS(obj, i)
		if obj[i] == '}' {
			return id, updatedAt, true
		}
		i = skipWS(obj, i+1) // past ','
	}
}

// unquoteKey returns the text of the escaped key ("\u0069d") that quoted
// starts with.
func unquoteKey(quoted []byte) []byte {
	var s string
	if json.Unmarshal(quoted[:skipString(quoted, 0)], &s) != nil {
		return nil
	}
	return []byte(s)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}
