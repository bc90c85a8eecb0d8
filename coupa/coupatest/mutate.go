package coupatest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Mutations model what other users of the instance do while a sync runs.
// Each stamps the instance's clock (Now) at second precision, as Coupa's
// updated_at does, and is visible to the next list call.

func (s *Server) table(name string) *table {
	t, ok := s.tables[name]
	if !ok {
		panic(fmt.Sprintf("coupatest: unknown table %q", name))
	}
	return t
}

// liveIndex returns the index in t.recs of record id, or an error when t has
// no such record or it was deleted. t.mu must be held.
func (t *table) liveIndex(id int64) (int, error) {
	i := t.find(id)
	if i < 0 || t.recs[i].deleted {
		return -1, fmt.Errorf("coupatest: %s has no record %d", t.meta.Name, id)
	}
	return i, nil
}

// Update gives record id a new version stamped now and returns its
// updated_at after the write. On budget_lines, whose updated-at is
// unreliable, most new versions keep the previous updated-at (the content
// changes, the timestamp does not) and that is what is returned. Unknown
// table names panic (a test bug); unknown or deleted ids are an error.
func (s *Server) Update(table string, id int64) (time.Time, error) {
	t := s.table(table)
	at := s.Now().Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	i, err := t.liveIndex(id)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(t.setUpdated(i, at), 0).UTC(), nil
}

// Insert adds n new records created and updated now and returns their ids
// (ascending, above every existing id).
func (s *Server) Insert(table string, n int) []int64 {
	t := s.table(table)
	at := s.Now().Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = t.insert(at)
	}
	return ids
}

// BulkUpdate updates n records (spread over the table, chosen at random)
// in one second, as a mass edit does: all share one updated_at, which is
// returned with their ids in ascending order. n above the page size makes
// a tie that paging on updated_at alone cannot get through. On budget_lines
// most of them keep their old updated-at instead (see Update).
func (s *Server) BulkUpdate(table string, n int) ([]int64, time.Time) {
	t := s.table(table)
	at := s.Now().Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	rng := rand.New(rand.NewPCG(uint64(at), uint64(len(t.recs))))
	n = min(n, t.live)
	var live []int
	if n*4 < t.live {
		// Sample without building a list of every record: a bulk edit of
		// 120 must stay cheap on a million-record table.
		seen := make(map[int]bool, n)
		for len(live) < n {
			i := rng.IntN(len(t.recs))
			if !t.recs[i].deleted && !seen[i] {
				seen[i] = true
				live = append(live, i)
			}
		}
	} else {
		for i, r := range t.recs {
			if !r.deleted {
				live = append(live, i)
			}
		}
		rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		live = live[:n]
	}
	slices.Sort(live)
	ids := make([]int64, len(live))
	for k, i := range live {
		t.setUpdated(i, at)
		ids[k] = t.recs[i].id
	}
	return ids, time.Unix(at, 0).UTC()
}

// PendingWrite is a change whose updated_at is already stamped but which
// no list call shows yet: Coupa sets a parent's updated-at before the
// change is committed or while child rows are still being written.
type PendingWrite struct {
	s    *Server
	t    *table
	id   int64
	at   int64
	done bool
}

// BeginWrite stamps a new version of record id with the instance's now;
// listings keep showing the old version until Commit.
func (s *Server) BeginWrite(table string, id int64) (*PendingWrite, error) {
	t := s.table(table)
	t.mu.RLock()
	i := t.find(id)
	ok := i >= 0 && !t.recs[i].deleted
	t.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("coupatest: %s has no record %d", table, id)
	}
	return &PendingWrite{s: s, t: t, id: id, at: s.Now().Unix()}, nil
}

// Commit makes the write visible, with the updated_at stamped at
// BeginWrite (now in the past), and returns that time (on budget_lines
// usually the record's previous updated-at, see Update). A cursor that
// passed it meanwhile will not see the record again unless it looks back.
func (p *PendingWrite) Commit() time.Time {
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(p.id); i >= 0 && !t.recs[i].deleted && !p.done {
		p.at = t.setUpdated(i, p.at)
	}
	p.done = true
	return time.Unix(p.at, 0).UTC()
}

// LateWrite makes a new version of record id visible now whose updated_at
// is age in the past (e.g. 30s): what a write committed late looks like
// to a poller. It returns the (past) updated_at.
func (s *Server) LateWrite(table string, id int64, age time.Duration) (time.Time, error) {
	p, err := s.BeginWrite(table, id)
	if err != nil {
		return time.Time{}, err
	}
	p.at -= int64(age / time.Second)
	return p.Commit(), nil
}

// Delete hard-deletes record id. Coupa's header objects have no DELETE
// action, but records do vanish; only an id listing notices.
func (s *Server) Delete(table string, id int64) error {
	t := s.table(table)
	t.mu.Lock()
	defer t.mu.Unlock()
	i, err := t.liveIndex(id)
	if err != nil {
		return err
	}
	t.remove(i)
	return nil
}

// TruthRecord is the latest visible version of one record. CreatedAt and
// UpdatedAt are kept for every table, also those whose definition renders
// none (currencies have neither, budget_line_adjustments no updated-at):
// there they are when the version was written, which JSON does not show.
type TruthRecord struct {
	ID        int64
	CreatedAt time.Time // UTC
	UpdatedAt time.Time // UTC
	Version   int
	// JSON is the record exactly as a full list call renders it.
	JSON json.RawMessage
}

// Truth returns the latest visible version of every record of table, keyed
// by id, with its rendered JSON: what a complete sync must have delivered.
// It renders every record, so use Count and States for big tables.
func (s *Server) Truth(table string) map[int64]TruthRecord {
	t := s.table(table)
	sts := s.states(t)
	out := make(map[int64]TruthRecord, len(sts))
	for _, st := range sts {
		out[st.id] = s.truth(t, st)
	}
	return out
}

// Record returns the latest visible version of one record.
func (s *Server) Record(table string, id int64) (TruthRecord, bool) {
	t := s.table(table)
	t.mu.RLock()
	i := t.find(id)
	var st state
	ok := i >= 0 && !t.recs[i].deleted
	if ok {
		st = t.recs[i]
	}
	t.mu.RUnlock()
	if !ok {
		return TruthRecord{}, false
	}
	return s.truth(t, st), true
}

// RecordState is a record's compact state, without its body.
type RecordState struct {
	ID        int64
	UpdatedAt time.Time
	Version   int
}

// States returns every visible record's id, updated_at and version in id
// order without rendering: cheap ground truth for big benchmarks.
func (s *Server) States(table string) []RecordState {
	sts := s.states(s.table(table))
	out := make([]RecordState, len(sts))
	for i, st := range sts {
		out[i] = RecordState{ID: st.id, UpdatedAt: time.Unix(st.updated, 0).UTC(), Version: int(st.version)}
	}
	return out
}

// Deleted returns the ids of table's deleted records, in id order: what a
// sync that detects deletes must have tombstoned.
func (s *Server) Deleted(table string) []int64 {
	t := s.table(table)
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []int64
	for _, r := range t.recs {
		if r.deleted {
			out = append(out, r.id)
		}
	}
	return out
}

// Count returns the number of visible records of table.
func (s *Server) Count(table string) int {
	t := s.table(table)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.live
}

// Counts returns Count for every table of coupa.Catalog.
func (s *Server) Counts() map[string]int {
	out := map[string]int{}
	for name := range s.tables {
		out[name] = s.Count(name)
	}
	return out
}

func (s *Server) states(t *table) []state {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]state, 0, t.live)
	for _, r := range t.recs {
		if !r.deleted {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) truth(t *table, st state) TruthRecord {
	c := t.ctx(st)
	return TruthRecord{
		ID: st.id, CreatedAt: time.Unix(st.created, 0).UTC(), UpdatedAt: time.Unix(st.updated, 0).UTC(),
		Version: int(st.version), JSON: s.render.record(nil, t.plan, &c, nil, modeFull),
	}
}
