// Package coupatest is a faithful simulator of a Coupa instance's REST API,
// for tests, the demo command and benchmarks. Faithful means it behaves like
// Coupa including the inconvenient parts (see /work/shared/coupa-api.md):
// code that syncs correctly against it has met every documented pitfall.
//
// # Starting one
//
//	s := coupatest.NewTLS(t, coupatest.DefaultConfig()) // closed by t.Cleanup
//	s, err := coupatest.New(cfg)                        // no testing.T; Close it
//
// The server speaks HTTPS on a loopback port: URL() is the instance URL,
// HTTPClient() trusts it (and follows no redirects), CertPool() and
// CACertPEM() hand its certificate to other clients (the demo writes the PEM
// to a file named by SSL_CERT_FILE). The default client is DefaultClientID /
// DefaultClientSecret, granted every catalog table's scope (AllScopes).
//
// # What it serves
//
// POST /oauth2/token: grant_type=client_credentials, credentials in HTTP Basic
// auth or as client_id/client_secret form fields, optional space-separated
// scope. A scope the client was not granted, or any scope when
// Config.NoObjectScopes is set, is 400 {"error":"invalid_scope"}; bad
// credentials are 400 {"error":"invalid_client"}. Tokens expire after
// Config.TokenTTL by the instance's clock; an unknown or expired token gets
// 401, a token without the table's scope 403.
//
// GET <Path> for every table of coupa.Catalog (the eight documents and the
// other R39 list resources, at paths of one or several segments such as
// /api/asn/headers or /api/payables/invoices, routed by the whole path): a
// bare JSON array when the request says Accept: application/json, an XML
// document otherwise (404 when empty). limit is capped at 50 (and defaults
// to it), offset skips, order_by with dir=asc|desc sorts (400 for an
// unknown attribute); without
// order_by records come in id order, which is not updated_at order. Filters
// are attr[op]=value with the operators of coupa-api.md, attributes spelled
// with underscores or hyphens, associations filtered by a nested key
// (supplier[name]=...); an unknown attribute or operator is 400 with
// {"errors":{"attr":["message"]}}. Datetimes must be ISO 8601 with a zone
// (a bare date is midnight UTC). fields=[...] and return_object=limited|shallow
// shape the payload. Every answer carries the instance's clock in its Date
// header. GET <Path>/<id> answers one record, 404 once it is deleted.
// Tables whose definition has no updated-at (currencies,
// budget_line_adjustments: !Table.HasUpdatedAt) render none, and a filter
// or order on it is 400 like any unknown attribute; they list by id
// (order_by=id, id[gt]=...), as a full refresh reads them.
//
// GET /api/purchase_order_lines (scope core.purchase_order.read) and
// GET /api/expense_lines (core.expense.read) are R39's line list resources:
// the lines of every live purchase order (expense report), each exactly as
// its record embeds it, so with its record's id (order-header-id,
// expense-report-id). They take the query parameters of the tables' lists,
// with the same semantics, errors, faults and rate limit; /<id> answers one
// line. No line is stored: each request derives the lines from the parent
// table's records (a few milliseconds for 10,000 of them).
//
// # The data
//
// Every catalog table is generated from its R39 OpenAPI definition (the
// same embedded files the schemas come from), DefaultRecords each unless
// Config.Records says otherwise, each in an id range of its own (currencies
// from 1, the ids records' currency associations use). Records are
// generated from Config.Seed: hyphenated keys, associations as id plus
// natural keys (pointing at the target table's records where the
// definition is a catalog table's), line arrays, a per-instance
// custom-fields object, decimals as strings, datetimes in the instance's
// offset at second precision, nulls, and keys a later release added. Only
// (id, created_at, updated_at, version), the version's custom epoch (see
// AddCustomField) and the lines' own (version, changed_at) are stored per
// record; bodies are rendered on demand, identical for the same versions.
// A line's id is its record's*100+k and its updated-at the later of its
// record's and its own.
// Initial timestamps spread over Config.History with realistic ties,
// including one of Config.TieSize (> 50) records in one second.
//
// Custom fields: every table's headers have a "custom-fields" object with at
// least one field of every CustomFieldKind (8 to 10 keys), its lines
// (where it has any) text, boolean, number and lookup fields plus at most
// one more; the names, order and extras follow Config.Seed, so instances
// differ. Values as Coupa renders them: text "CC-1042", boolean true,
// integer 42, number 7.25 (a JSON number, always a fraction of quarters),
// date "2025-03-14", datetime "2016-10-07T06:59:46-07:00", lookup
// {"id":1204,"name":"Marketing 1204","external-ref-num":"GS-1204","active":true},
// user {"id":9001,"login":"user9001","email":"user9001@example.com",
// "firstname":"Ana","lastname":"Smith","employee-number":"C-123"} (a user
// of the users table). Every field is null now and then; booleans,
// integers, numbers and datetimes change with the version. CustomFields
// and LineCustomFields list a table's keys and kinds.
//
// Ground truth: Truth (ids to latest visible version and JSON), Record,
// States (no rendering: for big tables), Count, Counts (every catalog
// table). Truth keeps an updated_at also for tables that render none.
//
// # Changing it under a running sync
//
// Update, Insert, BulkUpdate (many records in one second), LateWrite (a new
// version whose updated_at is already in the past), BeginWrite/Commit (a
// stamped write that becomes visible later), Delete, SetSkew (the instance
// clock = host clock + skew, used for Date, new updated_at and token expiry).
// Budget lines' updated-at is unreliable, as coupa-api.md warns: two of
// three of their new versions change content but keep the previous
// updated-at, so only a full refresh sees them.
// ChangeLines changes a purchase order's or expense report's lines on their
// own, as a receipt does: new line content and line updated-at, while the
// record's updated-at and version stay. Churn plays a busy instance, over
// any catalog tables; with
// Config.Deletes it also deletes records and drops lines, with
// Config.LineChanges it also calls ChangeLines, and mid-way it adds a custom
// field (Config.ChurnCustomFields: how many, zero one, negative none).
// AddCustomField(table, key, kind) is an admin adding a custom field to a
// table's headers: versions written after the call render the key (mostly
// with values), versions written before never do, however late they are
// read; the same key with another kind changes its kind for later versions
// only, which is how a test makes a type conflict. The gate is a per-table
// custom epoch stamped on every version written (not a clock), so a
// version's body never changes and Truth agrees with the API. All are safe
// while requests are served.
//
// # Failures
//
// Faults() switches injected failures, all off by default: the leaky-bucket
// rate limit (429 without Retry-After unless asked), 5xx with HTML or JSON
// bodies, truncated JSON, latency, HTML login pages; Inject queues exact
// failures for deterministic tests. Config.Adversarial makes ties of
// updated_at come back in a new random order on every request, so offset
// paging across a tie really loses records. Stats() counts requests by table
// and status, 429s, tokens and records served.
package coupatest
