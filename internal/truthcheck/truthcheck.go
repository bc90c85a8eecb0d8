// Package truthcheck compares what a table topic, or a line topic, holds
// with the Coupa simulator's ground truth. The in-process tests (kfake) and the integration
// suite (a real broker) both judge a sync by it, so they judge alike.
package truthcheck

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/kread"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// Published is the last value of one key.
type Published struct {
	UpdatedAt time.Time // the record timestamp
	Value     []byte    // Confluent header + Avro; nil for a tombstone
}

// Content is one distinct published value of a record: its id, updated_at
// and a digest of the Avro body (after the 5-byte header, so a new schema id
// alone is no new content).
type Content struct {
	ID  int64
	At  int64 // updated_at, Unix milliseconds
	Sum [sha256.Size]byte
}

// Topic is a table topic as a read_committed consumer sees it.
type Topic struct {
	Last  map[int64]Published
	Count map[Content]int
	// Repeats counts, per id, records whose value equals the value right
	// before it (the same content published again, whatever its
	// timestamp): what a full refresh must never do.
	Repeats map[int64]int
	Records int
	// Where says where each content was published (partition, offset and
	// schema id), to tell a duplicate's copies apart.
	Where map[Content][]string
}

// Read reads topic from the start to its last stable offset.
func Read(ctx context.Context, topic string, opts ...kgo.Opt) (Topic, error) {
	t := Topic{Last: map[int64]Published{}, Count: map[Content]int{}, Repeats: map[int64]int{}, Where: map[Content][]string{}}
	err := kread.Committed(ctx, topic, kread.FromStart(), func(r *kgo.Record) error {
		id, err := strconv.ParseInt(string(r.Key), 10, 64)
		if err != nil {
			return fmt.Errorf("%s offset %d: key %q is not a decimal id", topic, r.Offset, r.Key)
		}
		t.Records++
		if prev, ok := t.Last[id]; ok && prev.Value != nil && r.Value != nil && string(body(prev.Value)) == string(body(r.Value)) {
			t.Repeats[id]++
		}
		t.Last[id] = Published{UpdatedAt: r.Timestamp, Value: r.Value}
		if r.Value == nil {
			return nil // a tombstone: no content
		}
		c := Content{ID: id, At: r.Timestamp.UnixMilli(), Sum: sha256.Sum256(body(r.Value))}
		t.Count[c]++
		schemaID, _, _ := schemas.HeaderID(r.Value)
		t.Where[c] = append(t.Where[c], fmt.Sprintf("partition %d offset %d schema id %d", r.Partition, r.Offset, schemaID))
		return nil
	}, opts...)
	return t, err
}

// body is a value's Avro, after the Confluent header: a new schema id alone
// is no new content.
func body(value []byte) []byte {
	if len(value) >= 5 {
		return value[5:]
	}
	return value
}

// Report is what Compare found wrong; SchemaIDs are the ids in the headers
// of the last values (for the caller to check against the registry).
type Report struct {
	Problems []string
	Missing  int
	Stale    int
	// Tombstoned counts the ids whose last record is a tombstone and that
	// the instance no longer has (deleted, as it should be); FalseTombstones
	// those it still has (a false delete).
	Tombstoned      int
	FalseTombstones int
	// MissedTombstones counts the ids the instance no longer has whose last
	// record is still a value (a delete not carried out).
	MissedTombstones int
	// Untyped counts values whose schema lacks a typed home for values it
	// could type (Registry only); Unreadable those that do not read the
	// same with the latest version of their subject.
	Untyped, Unreadable int
	SchemaIDs           map[int]bool
	// SameSecond lists records with several values at one updated_at:
	// changes within one second, legitimately published each.
	SameSecond []string
}

// Option adjusts what Compare accepts.
type Option func(*options)

type options struct {
	copies  int
	refresh bool
	reg     *registry // nil: every value is judged by the generated schema
	static  bool
}

// Refreshed says the table went through n full refreshes, each of which
// republishes on purpose what it reads: a content may be in the topic up to
// 1+n times.
func Refreshed(n int) Option { return func(o *options) { o.copies = 1 + n } }

// FullRefresh says the table is read by full refresh (coupa.FullRefresh):
// its record timestamps are those of the refreshes when records have no
// updated_at, so only values are compared, and a value published twice in a
// row (a refresh that republished an unchanged record) is a duplicate.
func FullRefresh() Option { return func(o *options) { o.refresh = true } }

// Registry makes Compare judge each value by the schema version it was
// written with (the registry's, by the id in its header), as schema
// evolution publishes them, and check two more things: that values read
// the same with the latest version of their subject (topicPrefix + table +
// "-value"), as a consumer that upgraded its reader schema reads them (up
// to readSample values of each older version); and that no value waits
// untyped in custom_fields or extra that its schema could type (unless
// StaticSchemas).
func Registry(cl *sr.Client, topicPrefix string) Option {
	return func(o *options) {
		o.reg = &registry{cl: cl, prefix: topicPrefix, byID: map[int]*schemas.Table{}, sampled: map[int]int{}}
	}
}

// StaticSchemas says the sync kept its schemas static: values wait untyped.
func StaticSchemas() Option { return func(o *options) { o.static = true } }

// registry resolves schema ids to tables (the generated table adopting
// the registered text), cached.
type registry struct {
	cl     *sr.Client
	prefix string
	byID   map[int]*schemas.Table
	// sampled counts, per writer schema id, the values read with the
	// latest version: readSample each is enough to prove the versions
	// compatible, and decoding generically is the slow part of a check.
	sampled map[int]int
}

const readSample = 50

func (r *registry) table(generated *schemas.Table, id int) (*schemas.Table, error) {
	if t, ok := r.byID[id]; ok {
		return t, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	t, err := generated.Adopt(s.Schema)
	if err != nil {
		return nil, err
	}
	r.byID[id] = t
	return t, nil
}

func (r *registry) latest(generated *schemas.Table, table string) (*schemas.Table, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := r.cl.SchemaByVersion(ctx, schemas.Subject(r.prefix+table), -1)
	if err != nil {
		return nil, fmt.Errorf("latest schema of %s: %w", table, err)
	}
	return r.table(generated, s.ID)
}

// Compare checks t against truth: each record's last value is its latest
// version byte for byte (the Confluent header, then the Avro of the truth's
// JSON); nothing is missing; an id the instance no longer has (deleted)
// ends in a tombstone, and no live one does; no content was published twice
// (unless opts say why it may be).
func Compare(table string, truth map[int64]coupatest.TruthRecord, t Topic, schema *schemas.Table, opts ...Option) (Report, error) {
	o := options{copies: 1}
	for _, opt := range opts {
		opt(&o)
	}
	rep := Report{SchemaIDs: map[int]bool{}}
	latest := schema
	if o.reg != nil && len(t.Last) > 0 {
		var err error
		if latest, err = o.reg.latest(schema, table); err != nil {
			return rep, err
		}
	}
	problem := func(limit int, n *int, format string, args ...any) {
		if n != nil {
			*n++
			if *n > limit {
				return
			}
		}
		rep.Problems = append(rep.Problems, table+": "+fmt.Sprintf(format, args...))
	}
	for id, want := range truth {
		got, ok := t.Last[id]
		if !ok {
			problem(3, &rep.Missing, "record %d (updated %s) never published", id, want.UpdatedAt)
			continue
		}
		if got.Value == nil {
			problem(3, &rep.FalseTombstones, "record %d (updated %s) is live, but its last record is a tombstone", id, want.UpdatedAt)
			continue
		}
		if len(got.Value) < 5 || got.Value[0] != 0 {
			problem(0, nil, "record %d: value is not in the Confluent wire format: % x", id, got.Value[:min(len(got.Value), 8)])
			continue
		}
		schemaID := int(got.Value[1])<<24 | int(got.Value[2])<<16 | int(got.Value[3])<<8 | int(got.Value[4])
		rep.SchemaIDs[schemaID] = true
		writer := schema
		if o.reg != nil {
			var err error
			if writer, err = o.reg.table(schema, schemaID); err != nil {
				return rep, err
			}
		}
		wantValue, st, err := writer.AppendStats(nil, want.JSON)
		if err != nil {
			return rep, err
		}
		if (!o.refresh && !got.UpdatedAt.Equal(want.UpdatedAt)) || string(got.Value[5:]) != string(wantValue) {
			problem(3, &rep.Stale, "record %d: the topic has the version of %s, the truth is %s", id, got.UpdatedAt.UTC(), want.UpdatedAt)
			continue
		}
		if o.reg != nil && !o.static && st.Untyped > 0 {
			problem(3, &rep.Untyped, "record %d: %d values wait untyped in custom_fields or extra: schema id %d should have learned them", id, st.Untyped, schemaID)
		}
		if latest != writer && o.reg.sampled[schemaID] < readSample {
			o.reg.sampled[schemaID]++
			if err := sameWithLatest(latest, writer, got.Value[5:]); err != nil {
				problem(3, &rep.Unreadable, "record %d (schema id %d): %v", id, schemaID, err)
			}
		}
	}
	for id, p := range t.Last {
		switch _, live := truth[id]; {
		case live:
		case p.Value == nil:
			rep.Tombstoned++
		default:
			problem(3, &rep.MissedTombstones, "the topic has record %d that the instance does not (deleted, and no tombstone)", id)
		}
	}
	for id, n := range t.Repeats {
		if o.refresh && n > o.copies-1 {
			problem(0, nil, "record %d: the same value was published again right after itself %d times", id, n)
		}
	}
	perSecond := map[[2]int64]int{}
	for c, n := range t.Count {
		if n > o.copies {
			problem(0, nil, "record %d version %s is in the topic %d times (same content; at %s)", c.ID, time.UnixMilli(c.At).UTC(), n, strings.Join(t.Where[c], ", "))
		}
		perSecond[[2]int64{c.ID, c.At}]++
	}
	for v, n := range perSecond {
		if n > 1 {
			rep.SameSecond = append(rep.SameSecond, fmt.Sprintf("%s: record %d has %d different values at updated_at %s", table, v[0], n, time.UnixMilli(v[1]).UTC()))
		}
	}
	if rep.Missing+rep.Stale+rep.FalseTombstones+rep.MissedTombstones+rep.Untyped+rep.Unreadable > 0 {
		problem(0, nil, "%d missing, %d stale, %d falsely tombstoned, %d deleted without a tombstone, %d with untyped values, %d unreadable with the latest schema, of %d",
			rep.Missing, rep.Stale, rep.FalseTombstones, rep.MissedTombstones, rep.Untyped, rep.Unreadable, len(truth))
	}
	return rep, nil
}

// sameWithLatest checks that a value written with writer reads with the
// latest version as the same Coupa JSON.
func sameWithLatest(latest, writer *schemas.Table, avroBinary []byte) error {
	want, err := writer.ToJSON(avroBinary)
	if err != nil {
		return err
	}
	got, err := latest.ToJSONFrom(writer, avroBinary)
	if err != nil {
		return err
	}
	if string(got) != string(want) {
		return fmt.Errorf("reads differently with the latest schema:\n  written %s\n  latest  %s", want, got)
	}
	return nil
}

// CompareLines checks t, the line topic of table tb, against the lines of
// the parents in truth (the table's truth), by Compare's rules: each line's
// last value is its line in the parent's latest version (with the parent's
// id and updated-at, the record timestamp), no line is missing or extra (a
// line removed from its parent must be gone), and no line content was
// published twice.
func CompareLines(tb coupa.Table, truth map[int64]coupatest.TruthRecord, t Topic, opts ...Option) (Report, error) {
	schema, err := schemas.Published(tb.LineTopic, &schemas.Redaction{})
	if err != nil {
		return Report{}, err
	}
	spec := schemas.LineSpec{Lines: tb.Lines, ParentKey: tb.LineParentKey}
	lines := map[int64]coupatest.TruthRecord{}
	for id, rec := range truth {
		ls, err := schemas.SplitLines(spec, rec.JSON, id, rec.UpdatedAt)
		if err != nil {
			return Report{}, fmt.Errorf("%s record %d: %w", tb.Name, id, err)
		}
		for _, l := range ls {
			if prev, dup := lines[l.ID]; dup {
				return Report{}, fmt.Errorf("%s: line %d is in records %d and %d", tb.Name, l.ID, prev.ID, id)
			}
			lines[l.ID] = coupatest.TruthRecord{ID: id, UpdatedAt: rec.UpdatedAt, JSON: l.JSON}
		}
	}
	return Compare(tb.LineTopic, lines, t, schema, opts...)
}

// CompareTable checks table tb as a sync publishes it: its topic by
// Compare, with the published schema, and its line topic, if it has one, by
// CompareLines. read returns a topic by table name ("invoices",
// "invoice_lines"); the harnesses read them each their own way.
func CompareTable(tb coupa.Table, truth map[int64]coupatest.TruthRecord, read func(table string) Topic, opts ...Option) ([]Report, error) {
	schema, err := schemas.Published(tb.Name, nil)
	if err != nil {
		return nil, err
	}
	if tb.Mode == coupa.FullRefresh {
		opts = append(opts, FullRefresh())
	}
	rep, err := Compare(tb.Name, truth, read(tb.Name), schema, opts...)
	if err != nil || tb.LineTopic == "" {
		return []Report{rep}, err
	}
	lines, err := CompareLines(tb, truth, read(tb.LineTopic), opts...)
	return []Report{rep, lines}, err
}

// CatalogSample are catalog tables beyond the eight that the end-to-end
// suites (in-process and on a real broker) sync under mutations and kills:
// every full refresh table, reference and document tables, paths of two and
// three segments, and several tables that share one definition.
var CatalogSample = []string{
	"accounts", "lookup_values", "exchange_rates", "payment_terms", "departments", "commodities", "uoms",
	"currencies", "budget_lines", "budget_line_adjustments",
	"payables_invoices", "payables_external_payables", "coupa_pay_invoices", "asn_headers",
	"receiving_transactions", "inventory_transactions", "purchase_order_changes", "supplier_sites", "items",
}
