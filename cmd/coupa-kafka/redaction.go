package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// RedactionFlags say what sensitive fields become before anything reaches
// Kafka, in Debezium's manner (column.exclude.list, column.mask.*). Fields
// are <table>.<field> with Avro field names, a dot into an association:
// users.email, suppliers.tax_id, users.pcard.number. Credentials (a user's
// password, a supplier's cXML password) are never published, whatever is set.
type RedactionFlags struct {
	FieldExclude []string `name:"field-exclude-list" env:"COUPA_FIELD_EXCLUDE_LIST" help:"Fields published as null (comma list of table.field)." group:"Sensitive data"`
	FieldMask    []string `name:"field-mask-list" env:"COUPA_FIELD_MASK_LIST" help:"Fields published as \"****\" (comma list of table.field). Default: card numbers (pcard.number), tax ids and registration numbers, and the bank account numbers of supplier information (see the README's Sensitive data); \"none\" masks nothing. A path may enter arrays (supplier_information_addresses.iban) and name a key kept in extra (extra.<Coupa key>)." group:"Sensitive data"`
	FieldHash    []string `name:"field-hash-list" env:"COUPA_FIELD_HASH_LIST" help:"Fields published as a keyed HMAC-SHA256 (joinable, not reversible): comma list of table.field. Needs COUPA_FIELD_HASH_KEY." group:"Sensitive data"`
	FieldHashKey string   `name:"field-hash-key" env:"COUPA_FIELD_HASH_KEY" help:"Key of the field hashes (never logged). Keep it secret and stable: a new key changes every hash." group:"Sensitive data"`
}

// redaction builds each selected table's schemas.Redaction from the flags
// and checks it against the table's schema, so that every mistake is in the
// one configuration error.
func (f *Flags) redaction() (map[string]schemas.Redaction, []error) {
	var errs []error
	tables, _ := f.tables()
	out := map[string]schemas.Redaction{}
	for _, t := range tables {
		r := schemas.DefaultRedaction(t.Name)
		if len(f.FieldMask) > 0 {
			r.Mask = nil
		}
		r.HashKey = f.FieldHashKey
		out[t.Name] = r
	}
	lists := []struct {
		env   string
		items []string
		add   func(*schemas.Redaction, string)
	}{
		{"COUPA_FIELD_EXCLUDE_LIST", f.FieldExclude, func(r *schemas.Redaction, p string) { r.Exclude = append(r.Exclude, p) }},
		{"COUPA_FIELD_MASK_LIST", f.FieldMask, func(r *schemas.Redaction, p string) { r.Mask = append(r.Mask, p) }},
		{"COUPA_FIELD_HASH_LIST", f.FieldHash, func(r *schemas.Redaction, p string) { r.Hash = append(r.Hash, p) }},
	}
	for _, l := range lists {
		for _, item := range l.items {
			item = strings.TrimSpace(item)
			if item == "" || (item == "none" && l.env == "COUPA_FIELD_MASK_LIST") {
				continue
			}
			table, path, ok := strings.Cut(item, ".")
			r, selected := out[table]
			switch {
			case !ok || path == "":
				errs = append(errs, fmt.Errorf("%s: %q is not table.field", l.env, item))
				continue
			case !selected:
				errs = append(errs, fmt.Errorf("%s: %q names a table that is not synced", l.env, item))
				continue
			}
			l.add(&r, path)
			out[table] = r
		}
	}
	for _, t := range tables {
		r := out[t.Name]
		if len(f.FieldMask) == 0 {
			// A field the user chose to hash or exclude leaves the
			// default masks.
			r.Mask = slices.DeleteFunc(slices.Clone(r.Mask), func(p string) bool {
				return slices.Contains(r.Hash, p) || slices.Contains(r.Exclude, p)
			})
			out[t.Name] = r
		}
		if _, err := schemas.Published(t.Name, &r); err != nil {
			errs = append(errs, fmt.Errorf("redaction: %s", strings.TrimPrefix(err.Error(), "schemas: ")))
		}
	}
	return out, errs
}
