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
// an association or into every element of an array of associations
// ("password", "tax_id", "pcard.number", "tax_registrations.number");
// "extra.<Coupa key>" names a key a record's schema does not have, which the
// converter would keep in its extra map
// ("supplier_information_addresses.extra.bank-account-number"). Lines are
// not reached this way: they are published unredacted to their line topic
// too. Redaction works on the record's JSON before conversion, so a value
// never reaches an Avro field, the extra map, or a log.
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
// They are the passwords and shared secrets of users and of suppliers'
// cXML and Coupa Connect set-up, wherever a table carries them.
var Credentials = map[string][]string{
	"users":                      {"password"},
	"suppliers":                  {"cxml_http_password", "cxml_secret", "cxml_invoice_secret", "coupa_connect_secret"},
	"supplier_information":       {"cxml_secret"},
	"supplier_information_sites": {"cxml_secret"},
	"supplier_sites":             {"cxml_secret"},
}

// bankAccounts are the keys of a supplier's remit-to address that identify
// its bank account (a SupplierInformationAddress: the identity record keeps
// its id, so they reach Kafka in its extra map unless masked). Routing, sort
// and SWIFT codes name the bank, not the account, and are published.
var bankAccounts = []string{"extra.bank-account-number", "extra.iban-number", "extra.international-bank-account-number"}

func under(assoc string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = assoc + "." + p
	}
	return out
}

// DefaultMasks are the fields masked unless configured otherwise: payment
// card numbers (the pcard association of users, purchase orders, their
// changes and requisitions), tax ids of suppliers and of the parties of tax
// registrations and business entities (a sole proprietor's tax id is a
// personal identifier, and so is a social security number), and the bank
// account numbers of suppliers' remit-to addresses. The tax ids of a
// buyer's own addresses and documents (addresses, invoices) are not masked.
var DefaultMasks = map[string][]string{
	"users":                      {"pcard.number"},
	"purchase_orders":            {"pcard.number"},
	"purchase_order_changes":     {"pcard.number"},
	"requisitions":               {"pcard.number"},
	"suppliers":                  {"tax_id"},
	"supplier_information":       append([]string{"federal_tax_num", "intl_tax_num", "social_security_number"}, under("supplier_information_addresses", bankAccounts)...),
	"supplier_information_sites": under("addresses", bankAccounts),
	"tax_registrations":          {"number"},
	"business_entities":          {"tax_registrations.number"},
}

// DefaultRedaction is what a table gets unless configured otherwise: its
// credentials excluded (as always) and its DefaultMasks masked.
func DefaultRedaction(table string) Redaction {
	return Redaction{Mask: slices.Clone(DefaultMasks[table])}
}

// Mask is the text a masked field is published as.
const Mask = "****"

// customFieldsKey is Coupa's custom fields key, which the generator gives
// headers and lines but not associations: how a line record is told apart.
const customFieldsKey = "custom-fields"

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
// under the record plan rp. A dot goes into an association or into the
// elements of an array of associations; "extra.<Coupa key>" names a key the
// record's schema does not have, which Coupa sends inside it and the
// converter keeps in its extra map (an address's "bank-account-number").
func (rd *redactor) add(table string, rp *recordPlan, path string, a redactAction) error {
	name, rest, isNested := strings.Cut(path, ".")
	if name == extraName && rp.extra >= 0 {
		if rest == "" {
			return fmt.Errorf("schemas: %s.extra names no key: write extra.<Coupa key>", table)
		}
		if i, isField := rp.byKey[rest]; isField {
			return fmt.Errorf("schemas: %s has a field for %q: name it %s", table, rest, rp.fields[i].name)
		}
		return rd.set(table, rest, rest, a)
	}
	fp, ok := rp.field(name)
	if !ok {
		return fmt.Errorf("schemas: %s has no field %q to redact", table, path)
	}
	if isNested {
		rec := fp.rec
		if fp.kind == kArray && fp.items.kind == kRecord {
			rec = fp.items.rec
			if _, isLine := rec.byKey[customFieldsKey]; isLine {
				// Lines are also published to their line topic, which
				// this redaction would not reach.
				return fmt.Errorf("schemas: %s.%s are lines, which are published unredacted to their own topic; %q cannot be redacted", table, name, path)
			}
		} else if fp.kind != kRecord {
			return fmt.Errorf("schemas: %s.%s is not a record or an array of records; %q names nothing", table, name, path)
		}
		sub := rd.nested[fp.key]
		if sub == nil {
			sub = &redactor{byKey: map[string]redactAction{}, nested: map[string]*redactor{}, key: rd.key}
			rd.nested[fp.key] = sub
		}
		return sub.add(table+"."+name, rec, rest, a)
	}
	if a != actExclude && fp.kind != kString {
		return fmt.Errorf("schemas: %s.%s is not a string; it can be excluded but not masked or hashed", table, name)
	}
	return rd.set(table, name, fp.key, a)
}

// set records action a for the JSON key key (field name says which).
func (rd *redactor) set(table, name, key string, a redactAction) error {
	if prev, dup := rd.byKey[key]; dup && prev != a {
		return fmt.Errorf("schemas: %s.%s is listed for two redactions", table, name)
	}
	rd.byKey[key] = a
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
	out := &Table{name: t.name, text: t.text, schema: t.schema, root: t.root, recs: t.recs, base: t.base, learned: t.learned}
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
			if sub := rd.nested[string(key)]; sub != nil && len(v) > 0 && (v[0] == '{' || v[0] == '[') {
				if dst, err = sub.applyValue(dst, v); err != nil {
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

// applyValue applies rd to an association: to the object v, or to every
// object element of the array v (other elements are copied as they are).
func (rd *redactor) applyValue(dst, v []byte) ([]byte, error) {
	if v[0] == '{' {
		return rd.apply(dst, v)
	}
	dst = append(dst, '[')
	i := skipWS(v, 1)
	if i < len(v) && v[i] == ']' {
		return append(dst, ']'), nil
	}
	for {
		end, err := skipValue(v, i, 1)
		if err != nil {
			return nil, err
		}
		if v[i] == '{' {
			if dst, err = rd.apply(dst, v[i:end]); err != nil {
				return nil, err
			}
		} else {
			dst = append(dst, v[i:end]...)
		}
		i = skipWS(v, end)
		if i < len(v) && v[i] == ',' {
			dst = append(dst, ',')
			i = skipWS(v, i+1)
			continue
		}
		if i < len(v) && v[i] == ']' {
			return append(dst, ']'), nil
		}
		return nil, synErr(v, i, "',' or ']'")
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
