package offsets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/internal/kread"
)

// Record returns the offsets-topic record that stores c for k. Produce it in
// the transaction that carries the records c covers.
func Record(topic string, k Key, c Cursor) (*kgo.Record, error) {
	v, err := c.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: k.Bytes(), Value: v}, nil
}

// ErrNoOffsetsTopic means the offsets topic does not exist.
var ErrNoOffsetsTopic = errors.New("offsets topic does not exist")

// ErrBadCursor means a cursor value in the offsets topic does not parse (or
// was written by a newer build).
var ErrBadCursor = errors.New("unreadable cursor")

// newer reports whether a was written after b: a higher commit sequence, or
// for equal sequences (version 1 cursors) a later commit time.
func newer(a, b Cursor) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	return a.CommittedAt.After(b.CommittedAt)
}

// Load reads the offsets topic to its end with read_committed isolation, so
// cursors written by aborted transactions are never seen, and returns the
// latest cursor of every key (reset requests included, under their own
// keys: see Key.ResetRequest). A missing topic is ErrNoOffsetsTopic (the caller
// decides whether that is a first run or a lost topic); a value that does not
// parse is an error naming its key and offset, never silently skipped.
//
// opts are the connection options (brokers, TLS, SASL).
func Load(ctx context.Context, topic string, opts ...kgo.Opt) (map[Key]Cursor, error) {
	out := map[Key]Cursor{}
	from := map[Key]int32{} // the partition each cursor in out was read from
	err := kread.Committed(ctx, topic, kread.FromStart(), func(r *kgo.Record) error {
		k, err := ParseKey(r.Key)
		if err != nil {
			return fmt.Errorf("%s partition %d offset %d: %w", topic, r.Partition, r.Offset, err)
		}
		if r.Value == nil { // a tombstone deletes the cursor
			delete(out, k)
			delete(from, k)
			return nil
		}
		var c Cursor
		if err := c.UnmarshalJSON(r.Value); err != nil {
			return fmt.Errorf("%s partition %d offset %d (%s/%s): %w: %w", topic, r.Partition, r.Offset, k.Instance, k.Table, ErrBadCursor, err)
		}
		// Within a partition a later record is a later write. Across
		// partitions (partitions added to the topic move a key) the
		// order of reading says nothing: the higher commit sequence wins.
		if p, ok := from[k]; ok && p != r.Partition && newer(out[k], c) {
			return nil
		}
		out[k], from[k] = c, r.Partition
		return nil
	}, opts...)
	if errors.Is(err, kread.ErrNoTopic) {
		return nil, fmt.Errorf("%s: %w", topic, ErrNoOffsetsTopic)
	}
	return out, err
}

// LoadSettled is Load after every transaction open on the topic when it was
// called has ended (kread.WaitSettled): the cursors it returns include every
// commit that had happened by then, also one whose answer never reached its
// producer.
func LoadSettled(ctx context.Context, topic string, opts ...kgo.Opt) (map[Key]Cursor, error) {
	if err := kread.WaitSettled(ctx, topic, opts...); err != nil {
		if errors.Is(err, kread.ErrNoTopic) {
			return nil, fmt.Errorf("%s: %w", topic, ErrNoOffsetsTopic)
		}
		return nil, err
	}
	return Load(ctx, topic, opts...)
}

// RequestReset writes a reset request for k's table (see Key.ResetRequest):
// to is where the table's producer continues from, in to.Mode. It is not
// written in the table's transaction (that would fence a running producer);
// the producer adopts it at the start of its next pass, or when it starts.
// It returns the request as written.
func RequestReset(ctx context.Context, topic string, k Key, to Cursor, opts ...kgo.Opt) (Cursor, error) {
	req := Cursor{UpdatedAt: to.UpdatedAt, ID: to.ID, Mode: to.Mode, CommittedAt: time.Now().UTC()}
	rec, err := Record(topic, k.ResetRequest(), req)
	if err != nil {
		return Cursor{}, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Cursor{}, err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return Cursor{}, fmt.Errorf("writing the reset request of %s to %s: %w", k.Table, topic, err)
	}
	return req, nil
}
