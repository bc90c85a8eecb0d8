package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// lineTopic is where a table's lines go: every line of every parent version
// the table publishes, keyed by the line's id, in the same transaction as
// that version. A read_committed consumer therefore never sees a line of a
// parent version that is not in the table topic, or the reverse; and lines
// need no cursor, restore or dedupe of their own (a parent version published
// once publishes its lines once).
type lineTopic struct {
	topic  string
	schema *topicSchema
	spec   schemas.LineSpec
}

// lineValue is one line of a pending parent version, converted.
type lineValue struct {
	id    int64
	value []byte // Confluent header + Avro
	stats schemas.Stats
}

// newLineTopic registers the schema of t's line topic. The parent's
// redaction rules cannot name a field inside its lines (they reach into
// associations, not arrays), so the line topic publishes exactly what the
// parent's embedded lines publish: no rules of its own.
func (p *Producer) newLineTopic(ctx context.Context, t coupa.Table) (*lineTopic, error) {
	generated, err := schemas.Published(t.LineTopic, &schemas.Redaction{})
	if err != nil {
		return nil, err
	}
	topic := p.cfg.TopicPrefix + t.LineTopic
	schema, err := newTopicSchema(ctx, &p.cfg, schemas.Subject(topic), generated, p.cfg.Logger.With("table", t.LineTopic))
	if err != nil {
		return nil, err
	}
	return &lineTopic{topic: topic, schema: schema,
		spec: schemas.LineSpec{Lines: t.Lines, ParentKey: t.LineParentKey}}, nil
}

// lineTopics lists the line topics of the configured tables, if enabled.
func (c *Config) lineTopics() []string {
	var out []string
	for _, t := range c.Tables {
		if c.LineTopics && t.LineTopic != "" {
			out = append(out, c.TopicPrefix+t.LineTopic)
		}
	}
	return out
}

// convert converts the lines of one parent record (raw, Coupa's JSON).
func (lt *lineTopic) convert(table string, r coupa.Record) ([]lineValue, error) {
	lines, err := schemas.SplitLines(lt.spec, r.Raw, r.ID, r.UpdatedAt)
	if err != nil {
		return nil, fmt.Errorf("table %s: record %d: %w", table, r.ID, err)
	}
	out := make([]lineValue, 0, len(lines))
	for _, l := range lines {
		e, err := lt.schema.convert(l.JSON)
		if err != nil {
			return nil, fmt.Errorf("table %s: record %d: converting line %d: %w", table, r.ID, l.ID, err)
		}
		out = append(out, lineValue{id: l.ID, value: e.value, stats: e.stats})
	}
	return out, nil
}

// records appends the Kafka records of p's lines to out, with headers.
// Their timestamp is the parent's updated_at: the version they were
// published with.
func (lt *lineTopic) records(out []*kgo.Record, p pending, headers []kgo.RecordHeader) []*kgo.Record {
	for _, l := range p.lines {
		out = append(out, &kgo.Record{
			Topic:     lt.topic,
			Key:       strconv.AppendInt(nil, l.id, 10),
			Value:     l.value,
			Timestamp: p.updatedAt,
			Headers:   headers,
		})
	}
	return out
}

// tombstones appends a tombstone (key, null value) for each line id in ids:
// lines the parent version at updatedAt no longer has, or lines of a
// deleted parent. headers name the source; a line tombstone carries no
// coupa.line_ids.
func (lt *lineTopic) tombstones(out []*kgo.Record, ids []int64, at time.Time, headers []kgo.RecordHeader) []*kgo.Record {
	for _, id := range ids {
		out = append(out, &kgo.Record{Topic: lt.topic, Key: strconv.AppendInt(nil, id, 10), Timestamp: at, Headers: headers})
	}
	return out
}

// lineIDs lists the ids of lines.
func lineIDs(lines []lineValue) []int64 {
	if len(lines) == 0 {
		return nil
	}
	out := make([]int64, len(lines))
	for i, l := range lines {
		out[i] = l.id
	}
	return out
}
