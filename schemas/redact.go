package schemas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Redaction says what happens to a table's sensitive fields before anything
// reaches Kafka, in the manner of Debezium's column.exclude.list and
// column.mask options. Fields are named by their Avro names, with a dot into
// an association ("password", "tax_id", "pcard.number"). Redaction works on the record's JSON
// before conversion, so a value never reaches an Avro field, the extra map,
// or a log.
type Redaction struct {
	// Exclude fields are published as null (absent), whatever Coupa sends.
	Exclude []string
	// Mask fields are published as the fixed text "****" when present.
	Mask []string
	// Hash fields are published as "hmac-sha256:<hex>" of the value, keyed
	// with HashKey: equal values stay joinable, and without the key a short
	// value (a tax id) cannot be recovered by trying every candidate.
	Hash    []string
	HashKey string
}

// Credentials are fields that are never published, whatever is configured:
// Coupa returns them on some instances, and no consumer has a use for them.
var Credentials = map[string][]string{
	"users":     {"password"},
	"suppliers": {"cxml_http_password"},
}

// DefaultMasks are the fields masked unless configured otherwise: payment
// card numbers (the pcard association of users, purchase orders and
// requisitions) and tax ids (a sole proprietor's tax id is a personal
// identifier). None of the synced tables carries bank account numbers.
var DefaultMasks = map[string][]string{
	"users":           {"pcard.number"},
	"purchase_orders": {"pcard.number"},
	"requisitions":    {"pcard.number"},
	"suppliers":       {"tax_id"},
}

// DefaultRedaction is what a table gets unless configured otherwise: its
// credentials excluded (as always) and its DefaultMasks masked.
func DefaultRedaction(table string) Redaction {
	return Redaction{Mask: DefaultMasks[table]}
}

// Mask is the text a masked field is published as.
const Mask = "****"

type redactAction uint8

const (
	actExclude redactAction = iota + 1
	actMask
	actHash
)

// redactor applies a Redaction to the keys of a record's JSON object.
type redactor struct {
	byKey  map[string]redactAction // Coupa JSON key
	nested map[string]*redactor    // Coupa JSON key of an association
	key    []byte
}

// add sets action a for the field at path (Avro names, "pcard.number")
// under the record plan rp.
func (rd *redactor) add(table string, rp *recordPlan, path string, a redactAction) error {
	name, rest, isNested := strings.Cut(path, ".")
	fp, ok := rp.field(name)
	if !ok {
		return fmt.Errorf("schemas: %s has no field %q to redact", table, path)
	}
	if isNested {
		if fp.kind != kRecord {
			return fmt.Errorf("schemas: %s.%s is not a record; %q names nothing", table, name, path)
		}
		sub := rd.nested[fp.key]
		if sub == nil {
			sub = &redactor{byKey: map[string]redactAction{}, nested: map[string]*redactor{}, key: rd.key}
			rd.nested[fp.key] = sub
		}
		return sub.add(table+"."+name, fp.rec, rest, a)
	}
	if a != actExclude && fp.kind != kString {
		return fmt.Errorf("schemas: %s.%s is not a string; it can be excluded but not masked or hashed", table, name)
	}
	if prev, dup := rd.byKey[fp.key]; dup && prev != a {
		return fmt.Errorf("schemas: %s.%s is listed for two redactions", table, name)
	}
	rd.byKey[fp.key] = a
	return nil
}

// Redacted returns the table with r applied before every conversion (the
// table's credentials are excluded in any case). The Avro schema is
// unchanged: excluded fields are nullable and masked or hashed ones are
// strings, so consumers and the registry see no new version. A field that
// does not exist, or is not a string where a mask or hash needs one, is an
// error.
func (t *Table) Redacted(r Redaction) (*Table, error) {
	rd := &redactor{byKey: map[string]redactAction{}, nested: map[string]*redactor{}, key: []byte(r.HashKey)}
	for _, list := range []struct {
		paths []string
		a     redactAction
	}{{append(slices.Clone(Credentials[t.name]), r.Exclude...), actExclude}, {r.Mask, actMask}, {r.Hash, actHash}} {
		for _, path := range list.paths {
			if err := rd.add(t.name, t.root, path, list.a); err != nil {
				return nil, err
			}
		}
	}
	if len(r.Hash) > 0 && r.HashKey == "" {
		return nil, fmt.Errorf("schemas: %s: hashing %s needs a key (without one, a short value is recovered by hashing every candidate)", t.name, strings.Join(r.Hash, ","))
	}
	out := &Table{name: t.name, text: t.text, schema: t.schema, root: t.root}
	if len(rd.byKey)+len(rd.nested) > 0 {
		out.redact = rd
	}
	return out, nil
}

// field finds a top-level field by its Avro name.
func (rp *recordPlan) field(name string) (fieldPlan, bool) {
	for _, f := range rp.fields {
		if f.name == name && name != extraName {
			return f, true
		}
	}
	return fieldPlan{}, false
}

// apply appends to dst the object b with its redacted members rewritten:
// excluded ones left out, masked and hashed ones replaced. A member whose
// value is null stays null. b must be one JSON object (Append checks the
// result as it converts it).
func (rd *redactor) apply(dst, b []byte) ([]byte, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	dst = append(dst, '{')
	first := true
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return append(dst, '}'), nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, synErr(b, i, "an object key")
		}
		kStart := i
		kEnd, escaped, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		key := b[kStart+1 : kEnd-1]
		if escaped {
			key, _ = unescape(nil, key)
		}
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return nil, synErr(b, i, "':'")
		}
		vStart := skipWS(b, i+1)
		vEnd, err := skipValue(b, vStart, 1)
		if err != nil {
			return nil, err
		}
		if a := rd.byKey[string(key)]; a != actExclude {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(append(dst, b[kStart:kEnd]...), ':')
			v := b[vStart:vEnd]
			if sub := rd.nested[string(key)]; sub != nil && len(v) > 0 && v[0] == '{' {
				if dst, err = sub.apply(dst, v); err != nil {
					return nil, err
				}
			} else {
				dst = rd.value(dst, a, v)
			}
		}
		i = skipWS(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return append(dst, '}'), nil
		}
		return nil, synErr(b, i, "',' or '}'")
	}
}

// value appends the published form of v under action a.
func (rd *redactor) value(dst []byte, a redactAction, v []byte) []byte {
	if a == 0 || string(v) == "null" {
		return append(dst, v...)
	}
	if a == actMask {
		return append(dst, `"`+Mask+`"`...)
	}
	// The hash is of the JSON text of the value as sent, so it does not
	// depend on how this build would decode it.
	m := hmac.New(sha256.New, rd.key)
	m.Write(v)
	dst = append(dst, `"hmac-sha256:`...)
	dst = hex.AppendEncode(dst, m.Sum(nil))
	return append(dst, '"')
}
