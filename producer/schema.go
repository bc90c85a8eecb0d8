package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// topicSchema is the value schema one topic (a table's, or a line topic)
// publishes with: the generated schema, extended by what the latest
// registered version of its subject learned (schemas.Table.Adopt), and
// extended again, as a new registered version, before the first record
// that has a field it cannot type yet is converted (schemas.Table.Learn).
//
// Deriving the starting point from the registry, not from local state,
// gives every process, replica and restart the same schema. Workers
// convert concurrently through cur; mu serialises the rare evolutions, so
// one registration answers every worker that met the same new field.
// Conversion does not learn by itself: tableSync.convertPage learns from
// a page whose records had values to type, then converts it again.
type topicSchema struct {
	subject string
	reg     Registrar
	log     *slog.Logger
	// static: never learn (StaticSchemas, or the registry refused an
	// evolution); untyped values wait in custom_fields and extra.
	static atomic.Bool
	cur    atomic.Pointer[schemaVersion]
	mu     sync.Mutex
	// byID are the versions values were written with, for valueHash.
	byIDMu sync.Mutex
	byID   map[int]*schemas.Table
}

// schemaVersion is one registered schema and its id.
type schemaVersion struct {
	table *schemas.Table
	id    int
}

// newTopicSchema registers the schema subject starts with. An
// *schemas.IncompatibleError means a registered version cannot be read
// with it; the caller stops the table.
func newTopicSchema(ctx context.Context, cfg *Config, subject string, generated *schemas.Table, log *slog.Logger) (*topicSchema, error) {
	s := &topicSchema{subject: subject, reg: cfg.Registry, log: log, byID: map[int]*schemas.Table{}}
	s.static.Store(cfg.StaticSchemas)
	// Static schemas adopt what was learned too: they only stop learning
	// more (dropping a learned field would be an incompatible version).
	t := generated
	latest, err := cfg.Registry.Latest(ctx, subject)
	if err != nil {
		return nil, err
	}
	if latest != "" {
		if t, err = generated.Adopt(latest); err != nil {
			return nil, err
		}
	}
	id, err := cfg.Registry.Register(ctx, subject, t)
	if err != nil {
		return nil, err
	}
	s.remember(id, t)
	s.cur.Store(&schemaVersion{table: t, id: id})
	return s, nil
}

// encoded is a record converted for Kafka.
type encoded struct {
	value []byte // the Confluent header, then Avro
	stats schemas.Stats
	table *schemas.Table // the version it was written with
}

// contentHash is what seen and values compare (schemas.Table.ContentHash).
func (e encoded) contentHash() (uint64, error) {
	h, err := e.table.ContentHash(e.value[5:])
	if err != nil { // a bug: the converter wrote it with this very table
		return 0, fmt.Errorf("hashing the converted value: %w", err)
	}
	return h, nil
}

// convert converts raw with the current version. Stats.Untyped > 0 means
// a version that learned from raw would type more (see learn).
func (s *topicSchema) convert(raw []byte) (encoded, error) {
	v := s.cur.Load()
	dst := schemas.AppendHeader(make([]byte, 0, len(raw)/2), v.id)
	out, st, err := v.table.AppendStats(dst, raw)
	return encoded{value: out, stats: st, table: v.table}, err
}

// learn extends the current version by what raws show, registers the
// result as one new version, and reports whether there is one. Learning
// from a whole page at once keeps the versions few. A registry that
// refuses the new version (incompatible, or a policy that forbids
// registration) turns the topic static: the values keep waiting, counted,
// and the table goes on. A registry that cannot be reached is an error:
// the batch is read again, and nothing is published with a schema that
// lacks a home for its values.
func (s *topicSchema) learn(ctx context.Context, raws [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.static.Load() {
		return nil
	}
	cur := s.cur.Load()
	next := cur.table
	for _, raw := range raws {
		var err error
		if next, err = next.Learn(raw); err != nil {
			return err
		}
	}
	if next == cur.table {
		return nil // nothing can be learned (or another worker did)
	}
	id, err := s.reg.Register(ctx, s.subject, next)
	if refused(err) {
		s.static.Store(true)
		s.log.Warn("the schema registry refused a new schema version: new fields stay untyped in custom_fields and extra (see coupa_kafka_untyped_values_total)",
			"subject", s.subject, "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("registering a new version of %s: %w", s.subject, err)
	}
	s.remember(id, next)
	s.cur.Store(&schemaVersion{table: next, id: id})
	s.log.Info("schema evolved: registered a version with the fields new records showed", "subject", s.subject, "schema_id", id)
	return nil
}

// learns says whether the topic may still learn.
func (s *topicSchema) learns() bool { return !s.static.Load() }

// valueHash is the content hash of a published value (restore), read with
// the version its header names.
func (s *topicSchema) valueHash(ctx context.Context, value []byte) (uint64, error) {
	id, _, err := schemas.HeaderID(value)
	if err != nil {
		return 0, err
	}
	t, err := s.version(ctx, id)
	if err != nil {
		return 0, err
	}
	return t.ContentHash(value[5:])
}

// version returns the table of schema id: one this process registered or
// adopted, or one read from the registry (by a process before it).
func (s *topicSchema) version(ctx context.Context, id int) (*schemas.Table, error) {
	s.byIDMu.Lock()
	t, ok := s.byID[id]
	s.byIDMu.Unlock()
	if ok {
		return t, nil
	}
	text, err := s.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: schema id %d: %w", s.subject, id, err)
	}
	if t, err = s.cur.Load().table.Base().Adopt(text); err != nil {
		return nil, err
	}
	s.remember(id, t)
	return t, nil
}

func (s *topicSchema) remember(id int, t *schemas.Table) {
	s.byIDMu.Lock()
	s.byID[id] = t
	s.byIDMu.Unlock()
}

// refused: the registry answered, and asking again will not change it.
func refused(err error) bool {
	var inc *schemas.IncompatibleError
	var re *sr.ResponseError
	return errors.As(err, &inc) || errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != 408 && re.StatusCode != 429
}
