package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Subject is the registry subject of a topic's values (TopicNameStrategy).
func Subject(topic string) string { return topic + "-value" }

// Registry registers value schemas in a Confluent-compatible schema
// registry and caches their ids. It is safe for concurrent use.
type Registry struct {
	client *sr.Client

	// newBackOff and retryFor bound the retries while the registry is
	// unreachable or answers 5xx; ctx bounds them too.
	newBackOff func() backoff.BackOff
	retryFor   time.Duration

	mu  sync.Mutex
	ids map[regKey]int
}

type regKey struct{ subject, schema string }

// NewRegistry wraps a franz-go registry client.
func NewRegistry(client *sr.Client) *Registry {
	return &Registry{
		client:     client,
		newBackOff: func() backoff.BackOff { return backoff.NewExponentialBackOff() },
		retryFor:   5 * time.Minute,
		ids:        map[regKey]int{},
	}
}

// IncompatibleError reports a schema the registry must not get: it cannot
// read data written with a registered version (Avro BACKWARD rules,
// checked against every version, i.e. BACKWARD_TRANSITIVE), or it drops a
// field a registered version has. The caller stops that table only.
type IncompatibleError struct {
	Subject string
	Version int    // the registered version it conflicts with
	Field   string // dotted path of the offending field ("invoice_lines.total")
	Reason  string
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("schemas: new schema for subject %s is incompatible with registered version %d: field %s: %s",
		e.Subject, e.Version, e.Field, e.Reason)
}

// Register returns the registry id of t's schema under subject,
// registering it as a new version if needed. Before anything is written,
// the schema is checked locally against every registered version (a
// registry, and srfake in particular, may not enforce compatibility):
//
//   - hamba's checker, BACKWARD: the new schema must read data written
//     with each old one (adding a field needs a default; a type may only
//     change along Avro's promotions);
//   - and, stricter than BACKWARD, no field of an old version may
//     disappear: downstream warehouse columns would silently stop being
//     filled.
//
// A conflict is an *IncompatibleError naming the field. Ids are cached per
// (subject, schema text), so the registry is asked once per process. While
// the registry is unreachable or answering 5xx, calls are retried with
// exponential backoff until ctx is done (or a few minutes have passed);
// other answers (401, 422, ...) fail at once.
func (r *Registry) Register(ctx context.Context, subject string, t *Table) (int, error) {
	key := regKey{subject, t.SchemaText()}
	r.mu.Lock()
	id, ok := r.ids[key]
	r.mu.Unlock()
	if ok {
		return id, nil
	}

	versions, err := retry(ctx, r, func() ([]sr.SubjectSchema, error) {
		ss, err := r.client.Schemas(ctx, subject)
		if isSubjectNotFound(err) {
			return nil, nil
		}
		return ss, err
	})
	if err != nil {
		return 0, fmt.Errorf("schemas: listing versions of %s: %w", subject, err)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].Version < versions[j].Version })
	for _, v := range versions {
		if v.Schema.Schema == t.SchemaText() && v.Type == sr.TypeAvro {
			r.remember(key, v.ID)
			return v.ID, nil
		}
	}
	for _, v := range versions {
		if v.Type != sr.TypeAvro {
			return 0, &IncompatibleError{Subject: subject, Version: v.Version, Field: "(schema)", Reason: "registered version is " + v.Type.String() + ", not Avro"}
		}
		old, err := avro.ParseWithCache(v.Schema.Schema, "", &avro.SchemaCache{})
		if err != nil {
			return 0, fmt.Errorf("schemas: %s version %d does not parse: %w", subject, v.Version, err)
		}
		if field, reason := Incompatibility(t.Schema(), old); field != "" {
			return 0, &IncompatibleError{Subject: subject, Version: v.Version, Field: field, Reason: reason}
		}
	}

	if len(versions) == 0 {
		r.enforceTransitive(ctx, subject)
	}
	created, err := retry(ctx, r, func() (sr.SubjectSchema, error) {
		return r.client.CreateSchema(ctx, subject, sr.Schema{Schema: t.SchemaText(), Type: sr.TypeAvro})
	})
	if err != nil {
		return 0, fmt.Errorf("schemas: registering %s: %w", subject, err)
	}
	r.remember(key, created.ID)
	return created.ID, nil
}

// Latest returns the text of the latest version registered under subject,
// or "" when the subject has none. It is what a table's learned fields are
// read back from (Table.Adopt), so that every process derives one schema.
// Retries like Register.
func (r *Registry) Latest(ctx context.Context, subject string) (string, error) {
	latest, err := retry(ctx, r, func() (sr.SubjectSchema, error) {
		ss, err := r.client.SchemaByVersion(ctx, subject, -1)
		if isSubjectNotFound(err) {
			return sr.SubjectSchema{}, nil
		}
		return ss, err
	})
	if err != nil {
		return "", fmt.Errorf("schemas: reading the latest version of %s: %w", subject, err)
	}
	if latest.Type != sr.TypeAvro && latest.Schema.Schema != "" {
		return "", nil // Register refuses it, naming the version
	}
	return latest.Schema.Schema, nil
}

// SchemaByID returns the text of the schema registered with id (what a
// value's Confluent header names). Retries like Register.
func (r *Registry) SchemaByID(ctx context.Context, id int) (string, error) {
	s, err := retry(ctx, r, func() (sr.Schema, error) { return r.client.SchemaByID(ctx, id) })
	if err != nil {
		return "", fmt.Errorf("schemas: reading schema id %d: %w", id, err)
	}
	return s.Schema, nil
}

// HeaderID reads the schema id of a value in the Confluent wire format and
// returns the Avro after the header.
func HeaderID(value []byte) (int, []byte, error) {
	if len(value) < 5 || value[0] != 0 {
		return 0, nil, fmt.Errorf("schemas: value is not in the Confluent wire format")
	}
	return int(binary.BigEndian.Uint32(value[1:5])), value[5:], nil
}

// enforceTransitive asks the registry to enforce, for a new subject, the
// rule Register checks locally: BACKWARD_TRANSITIVE (a registry's default is
// usually BACKWARD, against the latest version only). Best effort: a
// registry whose policy forbids subject configs keeps its own level, and
// the local check still holds; an existing subject's level is the
// operator's and is left alone.
func (r *Registry) enforceTransitive(ctx context.Context, subject string) {
	_ = r.client.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackwardTransitive}, subject)
}

func (r *Registry) remember(k regKey, id int) {
	r.mu.Lock()
	r.ids[k] = id
	r.mu.Unlock()
}

func isSubjectNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && (re.ErrorCode == 40401 || re.StatusCode == http.StatusNotFound)
}

// retryable: the registry is down, overloaded or slow (no answer within
// the HTTP client's timeout, while ctx is still live). Anything else it
// says is an answer, and asking again would not change it.
func retryable(ctx context.Context, err error) bool {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusRequestTimeout
	}
	return ctx.Err() == nil
}

func retry[T any](ctx context.Context, r *Registry, op func() (T, error)) (T, error) {
	var last error
	v, err := backoff.Retry(ctx, func() (T, error) {
		v, err := op()
		if err != nil {
			// Keep the registry's own last answer: a deadline that cuts a
			// request short must not hide why the earlier ones failed.
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				last = err
			}
			if !retryable(ctx, err) {
				return v, backoff.Permanent(err)
			}
		}
		return v, err
	}, backoff.WithBackOff(r.newBackOff()), backoff.WithMaxElapsedTime(r.retryFor))
	if err != nil && last != nil && !errors.Is(err, last) {
		// Gave up on ctx: say what the registry was doing meanwhile.
		err = fmt.Errorf("%w (last registry error: %s)", err, describe(last))
	}
	return v, err
}

func describe(err error) string {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d from %s %s: %v", re.StatusCode, re.Method, re.URL, err)
	}
	return err.Error()
}

// Incompatibility checks a new schema against one registered (old)
// schema and returns the dotted path of the first offending field and why,
// or "" when the new schema may be registered. Each check uses a fresh
// hamba checker: its cache is keyed by fingerprints and remembers
// in-progress recursion, which must not leak between checks.
func Incompatibility(newSchema, oldSchema avro.Schema) (field, reason string) {
	if err := avro.NewSchemaCompatibility().Compatible(newSchema, oldSchema); err != nil {
		field, reason = locate(newSchema, oldSchema, "")
		if field == "" {
			field = "(top level)"
		}
		if reason == "" {
			reason = err.Error()
		}
		return field, reason
	}
	if path := removedField(newSchema, oldSchema, ""); path != "" {
		return path, "removed (a registered version has it; removing a field is refused even though Avro would allow it)"
	}
	return "", ""
}

// deref resolves named references and steps into the non-null branch of
// a ["null", T] union, for walking two schemas side by side.
func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		ts := u.Types()
		if len(ts) == 2 && ts[0].Type() == avro.Null {
			return deref(ts[1])
		}
	}
	return s
}

func findField(fs []*avro.Field, name string, aliases []string) *avro.Field {
	for _, f := range fs {
		if f.Name() == name {
			return f
		}
	}
	for _, f := range fs {
		for _, a := range aliases {
			if f.Name() == a {
				return f
			}
		}
	}
	return nil
}

// locate finds the field that makes reader unable to read writer.
func locate(reader, writer avro.Schema, path string) (string, string) {
	reader, writer = deref(reader), deref(writer)
	switch rs := reader.(type) {
	case *avro.RecordSchema:
		ws, ok := writer.(*avro.RecordSchema)
		if !ok {
			return "", ""
		}
		for _, rf := range rs.Fields() {
			p := join(path, rf.Name())
			wf := findField(ws.Fields(), rf.Name(), rf.Aliases())
			if wf == nil {
				if !rf.HasDefault() {
					return p, "added without a default, so data written before cannot be read"
				}
				continue
			}
			if err := avro.NewSchemaCompatibility().Compatible(rf.Type(), wf.Type()); err != nil {
				if deeper, why := locate(rf.Type(), wf.Type(), p); deeper != "" {
					return deeper, why
				}
				return p, fmt.Sprintf("type changed from %s to %s (%v)", typeString(wf.Type()), typeString(rf.Type()), err)
			}
		}
	case *avro.ArraySchema:
		if ws, ok := writer.(*avro.ArraySchema); ok {
			return locate(rs.Items(), ws.Items(), path)
		}
	case *avro.MapSchema:
		if ws, ok := writer.(*avro.MapSchema); ok {
			return locate(rs.Values(), ws.Values(), path)
		}
	}
	return "", ""
}

// removedField returns the first field of old missing from new.
func removedField(newS, oldS avro.Schema, path string) string {
	newS, oldS = deref(newS), deref(oldS)
	switch ns := newS.(type) {
	case *avro.RecordSchema:
		os, ok := oldS.(*avro.RecordSchema)
		if !ok {
			return ""
		}
		for _, of := range os.Fields() {
			p := join(path, of.Name())
			nf := findField(ns.Fields(), of.Name(), nil)
			if nf == nil {
				for _, f := range ns.Fields() { // renamed with an alias is not removed
					for _, a := range f.Aliases() {
						if a == of.Name() {
							nf = f
						}
					}
				}
			}
			if nf == nil {
				return p
			}
			if deeper := removedField(nf.Type(), of.Type(), p); deeper != "" {
				return deeper
			}
		}
	case *avro.ArraySchema:
		if os, ok := oldS.(*avro.ArraySchema); ok {
			return removedField(ns.Items(), os.Items(), path)
		}
	}
	return ""
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func typeString(s avro.Schema) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	if p, ok := s.(*avro.PrimitiveSchema); ok && p.Logical() != nil {
		return string(p.Type()) + "/" + string(p.Logical().Type())
	}
	return string(s.Type())
}

// confluent writes the Confluent wire-format header.
var confluent sr.ConfluentHeader

// AppendHeader appends the Confluent wire-format header (magic byte 0 and
// the 4-byte big-endian schema id). Append the record's Avro after it:
//
//	v = schemas.AppendHeader(v[:0], id)
//	v, extra, err = table.Append(v, raw)
func AppendHeader(dst []byte, schemaID int) []byte {
	out, _ := confluent.AppendEncode(dst, schemaID, nil) // fails only for protobuf indexes
	return out
}

// AppendValue appends a complete Kafka record value in the Confluent wire
// format: the header, then the Avro binary.
func AppendValue(dst []byte, schemaID int, avroBinary []byte) []byte {
	return append(AppendHeader(dst, schemaID), avroBinary...)
}
