// Package kread reads Kafka partitions up to their last stable offset with
// read_committed isolation: exactly what committed transactions wrote, as of
// the moment the read began. coupa-kafka restores its state (cursors, and the
// versions published inside the lookback window) this way at start-up.
package kread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoTopic means the topic does not exist.
var ErrNoTopic = errors.New("topic does not exist")

// Start chooses where to start reading each partition.
type Start struct {
	// AfterMilli, when set, starts each partition at the first record whose
	// timestamp is at or after it (Kafka's offsets-by-timestamp); otherwise
	// reading starts at the log start.
	AfterMilli int64
	set        bool
}

// FromTimestamp starts at the first record with timestamp >= ms, as Kafka
// finds it, except where Kafka finds none: there the partition is read from
// its start. Kafka searches only the first log segment whose largest
// timestamp reaches ms, and a segment the log cleaner has emptied of data
// (transaction markers stay) can be that segment: the broker then answers
// "none" although later segments hold such records (seen on Apache Kafka
// 4.1 with a compacted topic). The caller filters by timestamp either way:
// timestamps need not grow with offsets, so older records follow too.
func FromTimestamp(ms int64) Start { return Start{AfterMilli: ms, set: true} }

// FromStart reads each partition from its log start.
func FromStart() Start { return Start{} }

// Committed calls fn for every committed record of topic from start up to the
// last stable offset each partition had when Committed began. Records of
// aborted transactions are never passed to fn. opts carry the connection
// settings (brokers, TLS, SASL). A missing topic is ErrNoTopic.
func Committed(ctx context.Context, topic string, start Start, fn func(*kgo.Record) error, opts ...kgo.Opt) error {
	base, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer base.Close()
	adm := kadm.NewClient(base)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err = listErr(topic, ends, err); err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err = listErr(topic, starts, err); err != nil {
		return err
	}
	if start.set {
		after, err := adm.ListOffsetsAfterMilli(ctx, start.AfterMilli, topic)
		if err = listErr(topic, after, err); err != nil {
			return err
		}
		after.Each(func(o kadm.ListedOffset) {
			if o.Timestamp >= 0 { // found: start there; not found: from the start (see FromTimestamp)
				starts[topic][o.Partition] = o
			}
		})
	}
	remaining := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(end kadm.ListedOffset) {
		s, ok := starts.Lookup(topic, end.Partition)
		if ok && s.Offset < end.Offset {
			remaining[end.Partition] = end.Offset
			from[end.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(remaining) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (transaction markers) are returned so that the
		// position is known even when a partition ends with a marker.
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		if err := fetchErr(topic, fs); err != nil {
			return err
		}
		var cbErr error
		fs.EachRecord(func(r *kgo.Record) {
			end, open := remaining[r.Partition]
			if cbErr != nil || !open {
				return
			}
			// The record just before end may never come: read_committed
			// drops an aborted record, and one can sit right below the
			// last stable offset while its abort marker lies beyond it.
			// Any record at or past end says the partition is read.
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				cbErr = fn(r)
			}
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}

// WaitSettled waits until every transaction that had written to topic when
// WaitSettled was called has ended: until each partition's last stable offset
// reaches the high watermark the partition had then. A Committed read started
// afterwards sees the outcome of all those transactions.
//
// Committed alone reads up to the last stable offset, which another
// producer's open transaction can hold back behind records that are already
// committed; a reader that must see one particular committed record (the
// cursor of a commit whose answer was lost) waits here first.
func WaitSettled(ctx context.Context, topic string, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err = listErr(topic, ends, err); err != nil {
		return err
	}
	wait := 10 * time.Millisecond
	for {
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err = listErr(topic, stable, err); err != nil {
			return err
		}
		settled := true
		ends.Each(func(end kadm.ListedOffset) {
			if s, ok := stable.Lookup(topic, end.Partition); !ok || s.Offset < end.Offset {
				settled = false
			}
		})
		if settled {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for open transactions on %s to end: %w", topic, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func listErr(topic string, l kadm.ListedOffsets, err error) error {
	if err == nil {
		err = l.Error()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%s: %w", topic, ErrNoTopic)
	default:
		return fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
}

func fetchErr(topic string, fs kgo.Fetches) error {
	var out error
	fs.EachError(func(t string, p int32, err error) {
		if out == nil && !errors.Is(err, context.Canceled) {
			out = fmt.Errorf("reading %s partition %d: %w", t, p, err)
		}
	})
	return out
}
