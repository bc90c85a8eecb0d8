// Package schemas holds the Avro value schemas of every table of
// coupa.Catalog (and of the line topics of those with lines) and converts
// Coupa's JSON records to Avro binary, losslessly.
//
// # Schemas
//
// avsc/<table>.avsc are generated from Coupa's official R39 OpenAPI
// definitions (internal/openapi) by `go generate ./schemas` (see
// schemas/internal/avscgen for the one implementation of these rules),
// committed, and embedded. TestGoldenAVSC fails when they drift from what
// the generator produces.
//
//   - Names: the top-level record is coupa.<AvroName> (coupa.Invoice); nested
//     records live in coupa.<snake_case AvroName> (coupa.invoice.Supplier,
//     coupa.invoice.InvoiceLine), each named after its definition without
//     the characters Avro names cannot hold (Asn-Header ->
//     coupa.inventory_transfer.AsnHeader). A definition referenced twice in
//     one schema is defined once and reused by name; two definitions that
//     would get one name make generation fail. An association to the line
//     definition itself is named <Line>Ref (coupa.invoice.InvoiceLineRef).
//     Tables sharing a definition (the inventory transactions) each have
//     their own names.
//   - Fields: the Coupa key with '-' replaced by '_'. A '?' (Ruby predicate
//     keys such as "active?") becomes "_q"; any other character outside
//     [A-Za-z0-9_] becomes "_x<hex code point>"; a leading digit gets a '_'
//     prefix. The rule depends on the key alone, so names never shift when
//     Coupa adds keys; when '_' -> '-' does not give the key back, the field
//     carries the original in a "coupa.key" property. Two keys mapping to
//     one name make generation fail rather than guess.
//   - Order: id, created_at, updated_at, the rest by Coupa key,
//     custom_fields, extra. A definition without updated-at (currencies,
//     budget_line_adjustments) has no updated_at field; nothing here needs
//     one. Every field has a doc from the OpenAPI
//     description (or one naming the key when Coupa gives none).
//   - Types: integer -> long; boolean -> boolean; datetime ->
//     long timestamp-millis (UTC); every other string format (including
//     "date", kept as Coupa's text) -> string; number decimal(p,s) -> bytes
//     decimal(min(p,38), s) — the scale is kept and the integer digits
//     shrink (decimal(46,20) -> decimal(38,20)); bare decimal ->
//     decimal(38,10); number float (rates and percentages, which Coupa
//     renders as JSON numbers) -> double; a property without any type (an
//     approval's polymorphic approver) -> string holding JSON text, marked
//     "coupa.json": true.
//   - Associations -> a nested record of the referenced definition's
//     identifying fields (IdentityKeys: id, code, email, login, name,
//     number, when the definition has them; id always, as every Coupa
//     object has one), plus its own extra map for
//     everything else Coupa sends inside it. Whole associated objects are
//     not embedded: the object graph has cycles.
//   - The table's line array (invoice-lines, order-lines, ...) -> array of
//     line records carrying all the line's scalars, its associations as
//     identity records, custom_fields and extra. Other arrays of objects ->
//     arrays of identity records.
//   - custom_fields (Coupa's "custom-fields", per-instance keys) -> map of
//     JSON text, on headers and lines (and, once learned, the typed view
//     "custom": see Evolution).
//   - The top-level id is a required long; every other field is
//     ["null", T] with "default": null, so new fields can always be added.
//
// # Conversion
//
// Table.Append converts through a plan compiled once from the schema; it
// scans the raw JSON bytes and appends Avro binary, with no intermediate
// tree and no reflection. Nothing is dropped: a key the schema does not
// know, or a value that does not fit its declared type, is kept as its
// JSON text in the extra map of the record it appeared in (top level,
// line, or association), keyed by the original Coupa key, and counted.
// What fits:
//
//   - long: a JSON integer within int64 (not 1.0, not "1").
//   - boolean: true or false (not "false").
//   - double: a JSON number whose double has exactly the number's value
//     in shortest form (any number with at most 15 significant digits;
//     longer ones only when exact). Not a string, no overflow, no
//     subnormals.
//   - string: a JSON string (not a number). A string holding a lone UTF-16
//     surrogate escape cannot be rebuilt exactly and goes to extra.
//   - datetime: a JSON string "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)"; a zone
//     is required; fractions finer than a millisecond must be zeros.
//   - decimal: a JSON string -?digits[.digits] with at most scale
//     fractional digits (beyond that only zeros) and at most precision
//     significant digits. Never rounded: "1e3", "+1", ".5", JSON numbers,
//     and values that overflow go to extra.
//   - record: a JSON object; array: a JSON array whose every element fits
//     (else the whole array goes to extra); custom-fields: a JSON object
//     without duplicate keys.
//
// Normalisations (the only differences between Coupa's JSON and
// Table.ToJSON of its Avro): an absent key and an explicit null are both
// Avro null; datetimes become UTC instants; decimals become their exact
// value (trailing zeros and leading zeros are not kept); double numbers
// become the shortest form of the same value ("100.0" -> "100"); key order and
// whitespace are not kept. Everything in extra and custom_fields is the
// original JSON text byte for byte.
//
// Refused records (Append returns an error): input that is not one JSON
// object of valid UTF-8, an object with a duplicate key (Avro cannot hold
// both values and picking one would lose the other), and a record without
// an integer id.
//
// # Evolution
//
// The generated schemas cannot know an instance's custom fields or what a
// newer Coupa release adds. Table.Learn extends a table by what a record
// shows (see learn.go for the typing rules): custom fields become typed,
// optional fields of a "custom" record, a view of custom_fields written
// from the same object (custom.go); keys the schema lacks become fields of
// their own, out of extra. AppendStats counts what a conversion could not
// type (Stats.Untyped: what Learn would type; Stats.Conflicts: values that
// do not fit a learned type, kept in custom_fields or extra). Table.Adopt
// reads what a registered version learned back from its text, so the
// registry is the only record of it. Table.ContentHash hashes a value
// without what evolution adds, so the same JSON hashes alike under every
// version, and Table.ToJSONFrom reads a value written with another version.
//
// # Registry
//
// Registry registers <topic>-value subjects, checking compatibility
// locally first (see Registry.Register), and AppendHeader/AppendValue
// write the Confluent wire format.
package schemas
