package producer

import (
	"time"
)

// version identifies a record at one updated_at. Coupa has no version
// number, and updated_at has second precision: two changes of one record in
// the same second share it. So a version is only known to be published when
// the content published under (id, updated_at) is the same too (see seen).
type version struct {
	id int64
	at int64 // updated_at, Unix milliseconds
}

// seen remembers the versions published with updated_at at or after floor
// (the lookback window before the cursor, and everything beyond the cursor
// that parallel slices committed), with a hash of the value published. It
// lets every pass re-read recent history without publishing it again, while a
// second change within the same second (same updated_at, other content) is
// still published. It is not persisted on its own: after a restart it is
// rebuilt from the table topic itself (restore), whose record timestamps are
// the records' updated_at, so it holds exactly what committed transactions
// published.
type seen struct {
	floor int64 // versions older than this are forgotten
	set   map[version]uint64
}

func newSeen() *seen { return &seen{set: map[version]uint64{}} }

func (s *seen) has(id int64, at time.Time, hash uint64) bool {
	h, ok := s.set[version{id, at.UnixMilli()}]
	return ok && h == hash
}

func (s *seen) add(id int64, at time.Time, hash uint64) {
	if ms := at.UnixMilli(); ms >= s.floor {
		s.set[version{id, ms}] = hash
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

// forget drops every version of the ids in gone (records tombstoned): were
// one to come back, it must be published again, not taken for published.
func (s *seen) forget(gone map[int64]bool) {
	for v := range s.set {
		if gone[v.id] {
			delete(s.set, v)
		}
	}
}
