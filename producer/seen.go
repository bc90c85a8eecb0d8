package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/internal/kread"
)

// version identifies one published version of a record. Coupa has no version
// number; (id, updated_at) is the closest thing, and it is what the lookback
// must not publish twice.
type version struct {
	id int64
	at int64 // updated_at, Unix milliseconds
}

// seen is the set of versions published with updated_at inside the lookback
// window (at or after floor). It is what lets every pass re-read recent
// history without publishing it again. It is not persisted on its own: after
// a restart it is rebuilt from the table topic itself (restore), whose record
// timestamps are the records' updated_at, so it holds exactly what committed
// transactions published.
type seen struct {
	floor int64 // versions older than this are forgotten
	set   map[version]struct{}
}

func newSeen() *seen { return &seen{set: map[version]struct{}{}} }

func (s *seen) has(id int64, at time.Time) bool {
	_, ok := s.set[version{id, at.UnixMilli()}]
	return ok
}

func (s *seen) add(id int64, at time.Time) {
	if ms := at.UnixMilli(); ms >= s.floor {
		s.set[version{id, ms}] = struct{}{}
	}
}

// forgetBefore drops versions older than t: the window has moved past them.
func (s *seen) forgetBefore(t time.Time) {
	ms := t.UnixMilli()
	if ms <= s.floor {
		return
	}
	s.floor = ms
	for v := range s.set {
		if v.at < ms {
			delete(s.set, v)
		}
	}
}

func (s *seen) len() int { return len(s.set) }

// restore reads the table topic from the first record stamped at or after
// from, with read_committed, and remembers every version found. Keys are Coupa
// ids as decimal text and timestamps are updated_at, so no value is decoded.
func (s *seen) restore(ctx context.Context, topic string, from time.Time, opts []kgo.Opt) error {
	s.forgetBefore(from)
	return kread.Committed(ctx, topic, kread.FromTimestamp(from.UnixMilli()), func(r *kgo.Record) error {
		id, err := strconv.ParseInt(string(r.Key), 10, 64)
		if err != nil {
			return fmt.Errorf("%s partition %d offset %d: key %q is not a Coupa id", topic, r.Partition, r.Offset, r.Key)
		}
		s.add(id, r.Timestamp)
		return nil
	}, opts...)
}
