package schemas

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// A small validating JSON scanner over the raw bytes. The converter never
// builds a tree: it finds each value's byte span, checks it against the
// plan, and writes Avro straight from the span.

// maxNesting bounds recursion on hostile input (encoding/json uses 10000).
const maxNesting = 1000

var errNesting = errors.New("JSON nested too deeply")

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func synErr(b []byte, i int, what string) error {
	if i >= len(b) {
		return &syntaxError{i, "unexpected end of input, want " + what}
	}
	return &syntaxError{i, fmt.Sprintf("unexpected %q, want %s", b[i], what)}
}

// skipValue validates the JSON value starting at b[i] (no leading space)
// and returns the offset just after it.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, synErr(b, i, "a value")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := skipString(b, i)
		return end, err
	case c == '{':
		if depth >= maxNesting {
			return i, errNesting
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, synErr(b, i, "an object key")
			}
			var err error
			if i, _, err = skipString(b, i); err != nil {
				return i, err
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, synErr(b, i, "':'")
			}
			if i, err = skipValue(b, skipWS(b, i+1), depth+1); err != nil {
				return i, err
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				return i + 1, nil
			}
			return i, synErr(b, i, "',' or '}'")
		}
	case c == '[':
		if depth >= maxNesting {
			return i, errNesting
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				return i + 1, nil
			}
			return i, synErr(b, i, "',' or ']'")
		}
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		end, _, err := skipNumber(b, i)
		return end, err
	}
	return i, synErr(b, i, "a value")
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, synErr(b, i, lit)
	}
	return i + len(lit), nil
}

// skipString scans the string starting at the quote b[i] and returns the
// offset after its closing quote and whether it contains escapes.
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return j, escaped, synErr(b, j+1, "an escape")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if len(b)-j < 6 {
					return j, escaped, synErr(b, len(b), "4 hex digits")
				}
				for k := j + 2; k < j+6; k++ {
					if hexVal(b[k]) < 0 {
						return k, escaped, synErr(b, k, "a hex digit")
					}
				}
				j += 6
			default:
				return j + 1, escaped, synErr(b, j+1, "an escape")
			}
		case c < 0x20:
			return j, escaped, synErr(b, j, "no control character in a string")
		default:
			j++
		}
	}
	return j, escaped, synErr(b, j, "a closing quote")
}

// skipNumber scans a JSON number; isInt reports one without fraction or
// exponent.
func skipNumber(b []byte, i int) (end int, isInt bool, err error) {
	j := i
	if b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return j, false, synErr(b, j, "a digit")
	}
	isInt = true
	if j < len(b) && b[j] == '.' {
		isInt = false
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return j, false, synErr(b, j, "a digit")
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		isInt = false
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return j, false, synErr(b, j, "a digit")
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	return j, isInt, nil
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unescape appends the decoded content of a validated JSON string body (the
// bytes between the quotes). exact is false when the string held a lone
// UTF-16 surrogate, which decodes to U+FFFD (as encoding/json does) and so
// cannot be rebuilt byte for byte.
func unescape(dst, s []byte) (out []byte, exact bool) {
	exact = true
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if lo := hex4(s[i+2:]); lo >= 0xDC00 && lo < 0xE000 {
					dst = utf8.AppendRune(dst, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
					i += 6
					continue
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				exact = false
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst, exact
}

func hex4(s []byte) rune {
	return hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3])
}
