package coupa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is one Coupa object exactly as the instance sent it, plus the two
// fields change capture needs, parsed once.
type Record struct {
	// ID is the object's Coupa id.
	ID int64
	// UpdatedAt is the object's updated-at as a UTC instant (second
	// precision, as Coupa sends it); zero for a table without updated-at
	// (Table.HasUpdatedAt).
	UpdatedAt time.Time
	// Raw is the object's JSON, unchanged: hyphenated keys, decimals as
	// strings, unknown keys and the instance's UTC offset all preserved.
	Raw json.RawMessage
}

// Page is the answer to one list call.
type Page struct {
	Records []Record
	// Date is the instance's clock when it answered (the HTTP Date header,
	// second precision). Sync passes take their upper bound from it so that
	// skew between this host and the instance cannot skip records.
	Date time.Time
}

// DecodePage parses a list response body: a JSON array of objects, each with
// an integer "id" and an "updated-at" datetime. Anything else is an error; an
// empty array is an empty page. Numbers stay exact: each record's Raw is its
// bytes in body, unchanged and not copied.
func DecodePage(body []byte) ([]Record, error) { return decodePage(body, true) }

// decodePage is DecodePage for a table whose records may lack updated-at
// (needUpdatedAt false): a missing one is zero, a present one must parse.
func decodePage(body []byte, needUpdatedAt bool) ([]Record, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, fmt.Errorf("coupa: list response is not a JSON array")
	}
	if err := validJSON(body); err != nil {
		return nil, fmt.Errorf("coupa: decoding list response: %w", err)
	}
	out := make([]Record, 0, MaxLimit)
	err := arrayElements(body, func(raw []byte) error {
		r, err := decodeHead(raw, needUpdatedAt)
		if err != nil {
			return fmt.Errorf("coupa: record %d of page: %w", len(out), err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// DecodeRecord parses one object's id and updated-at and keeps its raw JSON.
func DecodeRecord(raw json.RawMessage) (Record, error) {
	raw = bytes.TrimSpace(raw)
	if err := validJSON(raw); err != nil {
		return Record{}, fmt.Errorf("not a JSON object: %w", err)
	}
	return decodeHead(raw, true)
}

// validJSON reports a syntax error (wrapping a *json.SyntaxError, which the
// client treats as a body cut short) for invalid JSON. An error at the very
// end is named as such: encoding/json calls a body cut inside a literal
// ("nu") an invalid character, which hides what happened.
func validJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	var v json.RawMessage
	err := json.Unmarshal(b, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset >= int64(len(b)) && !strings.Contains(err.Error(), "unexpected end") {
		return fmt.Errorf("unexpected end of JSON input (%w)", err)
	}
	if err == nil {
		err = &json.SyntaxError{Offset: int64(len(b))}
	}
	return err
}

// decodeHead reads id and updated-at from a valid JSON value. A missing
// updated-at is zero unless needUpdatedAt.
func decodeHead(raw []byte, needUpdatedAt bool) (Record, error) {
	idRaw, atRaw, isObject := headFields(raw)
	if !isObject {
		return Record{}, fmt.Errorf("not a JSON object: %s", truncate(raw, 40))
	}
	id, err := strconv.ParseInt(string(idRaw), 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("id %s is not an integer", truncate(idRaw, 40))
	}
	if atRaw == nil && !needUpdatedAt {
		return Record{ID: id, Raw: raw}, nil
	}
	var s string
	if err := json.Unmarshal(atRaw, &s); err != nil {
		return Record{}, fmt.Errorf("record %d: updated-at %s is not a string", id, truncate(atRaw, 40))
	}
	at, err := ParseTime(s)
	if err != nil {
		return Record{}, fmt.Errorf("record %d: %w", id, err)
	}
	return Record{ID: id, UpdatedAt: at, Raw: raw}, nil
}

// ParseTime parses a Coupa datetime ("2016-10-07T06:59:46-07:00") into a
// UTC instant. A zone is required: a datetime without one is ambiguous.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("datetime %q is not ISO 8601 with a zone", s)
	}
	return t.UTC(), nil
}

// FormatTime formats an instant the way filters expect it: ISO 8601 in UTC
// with second precision ("2024-01-02T03:04:05Z").
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// IntField returns the integer value of key in the JSON object raw (a
// record as the client returned it, e.g. a line's "order-header-id").
func IntField(raw []byte, key string) (int64, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(m[key]), 10, 64)
	return v, err == nil
}
