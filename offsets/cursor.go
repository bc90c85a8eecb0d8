// Package offsets defines the cursor that records how far a table has been
// published, its JSON encoding in the Kafka offsets topic, and the store that
// reads cursors back.
//
// A cursor is only ever written in the same Kafka transaction as the records
// it covers, so a consumer reading the offsets topic with read_committed sees
// a cursor exactly when it sees the records: a crash at any instant leaves the
// committed cursor and the committed records in agreement.
package offsets

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Mode is how a table is being read.
type Mode string

const (
	// Incremental reads what changed after the cursor (plus the lookback
	// window) and skips versions already published.
	Incremental Mode = "incremental"
	// FullRefresh re-reads and republishes the whole table from the cursor
	// on, then switches to Incremental. Set by `cursors reset --to-earliest
	// --full-refresh`; resumable like any other pass.
	FullRefresh Mode = "full_refresh"
)

// Version is the cursor format written by this build. Readers accept every
// version up to it and refuse newer ones (a downgrade must not misread a
// cursor and skip data).
//
// Version 2 added Seq. A version 1 cursor reads as Seq 0. Version 3 added
// reset requests (ResetKind) and Adopted: a build that does not know them
// must refuse them rather than take a request for the cursor. Version 4
// added Sweep and Lines: a build that does not know them would drop the
// delete sweep's progress and the line list's position from every cursor
// it writes.
const Version = 4

// Cursor is a table's position in Coupa's (updated_at, id) order: every record
// whose (updated_at, id) is at or before (UpdatedAt, ID) has been published.
// The zero Cursor is before every record.
type Cursor struct {
	UpdatedAt time.Time
	ID        int64
	Mode      Mode
	// Published counts records published under this key since the cursor
	// was created or reset; informational (shown by `cursors list`).
	Published int64
	// CommittedAt is the producer's clock at commit (nanosecond precision).
	CommittedAt time.Time
	// Seq counts the transactions that wrote this key: each cursor is
	// written with its predecessor's Seq plus one. Together with
	// CommittedAt it identifies the transaction that wrote the cursor, so a
	// producer whose commit answer was lost can tell, by reading the
	// committed cursor back, whether that commit happened (see
	// Cursor.WrittenBy).
	Seq int64
	// Adopted is the CommittedAt of the last reset request (a cursor
	// written under the table's ResetRequest key by `cursors reset`) that
	// the producer has adopted: a request made later is still to adopt.
	Adopted time.Time
	// Sweep is the table's delete sweep: when the last one completed and
	// how far the one under way has come. It rides in the cursor because
	// the tombstones a sweep writes commit with it, in one transaction: a
	// crash resumes the sweep exactly where its last commit left it.
	Sweep Sweep
	// Lines is how far the table's line list resource has been read (for
	// tables whose lines change on their own, see coupa.Table.LineList):
	// every line change at or before it has been published, with its
	// parent. Zero for other tables.
	Lines Position
}

// Position is a point in Coupa's (updated_at, id) order.
type Position struct {
	UpdatedAt time.Time
	ID        int64
}

// IsZero reports whether p is before everything.
func (p Position) IsZero() bool { return p.UpdatedAt.IsZero() && p.ID == 0 }

// After reports whether p is strictly ahead of o.
func (p Position) After(o Position) bool {
	if !p.UpdatedAt.Equal(o.UpdatedAt) {
		return p.UpdatedAt.After(o.UpdatedAt)
	}
	return p.ID > o.ID
}

// Sweep is the state of a table's delete sweep (see producer's sweep).
type Sweep struct {
	// Completed is when the last sweep finished (the instance was listed to
	// its end); zero when none has. The next sweep is due an interval later.
	Completed time.Time
	// Started is when the sweep under way began; zero when none is under
	// way.
	Started time.Time
	// After is the id the sweep under way has reconciled up to: ids at or
	// below it were listed and compared.
	After int64
}

// Running reports whether a sweep is under way.
func (s Sweep) Running() bool { return !s.Started.IsZero() }

// Pending reports whether the reset request r is still to be adopted by a
// producer whose cursor is c. Requests are ordered by their CommittedAt
// (the clock of the machine that ran `cursors reset`).
func (c Cursor) Pending(r Cursor) bool { return r.CommittedAt.After(c.Adopted) }

// WrittenBy reports whether c, read back from the offsets topic, is the
// cursor w that one particular transaction wrote: same sequence number and
// same commit clock. Positions alone cannot tell two transactions apart (a
// batch that only republishes lookback versions leaves the position as it
// was).
func (c Cursor) WrittenBy(w Cursor) bool {
	return c.Seq == w.Seq && c.CommittedAt.Equal(w.CommittedAt)
}

// IsZero reports whether c is before every record.
func (c Cursor) IsZero() bool { return c.UpdatedAt.IsZero() && c.ID == 0 }

// Covers reports whether the record (updatedAt, id) is at or before c.
func (c Cursor) Covers(updatedAt time.Time, id int64) bool {
	switch {
	case updatedAt.Before(c.UpdatedAt):
		return true
	case updatedAt.Equal(c.UpdatedAt):
		return id <= c.ID
	default:
		return false
	}
}

// After reports whether c is strictly ahead of o in (updated_at, id) order.
func (c Cursor) After(o Cursor) bool {
	if !c.UpdatedAt.Equal(o.UpdatedAt) {
		return c.UpdatedAt.After(o.UpdatedAt)
	}
	return c.ID > o.ID
}

// String is for logs and `cursors list`.
func (c Cursor) String() string {
	if c.IsZero() {
		return "earliest"
	}
	return fmt.Sprintf("%s id %d", c.UpdatedAt.UTC().Format(time.RFC3339), c.ID)
}

type cursorJSON struct {
	V           int        `json:"v"`
	UpdatedAt   *string    `json:"updated_at"`
	ID          int64      `json:"id"`
	Mode        Mode       `json:"mode"`
	Published   int64      `json:"published"`
	CommittedAt *string    `json:"committed_at,omitempty"`
	Seq         int64      `json:"seq,omitempty"`
	Adopted     *string    `json:"adopted,omitempty"`
	Sweep       *sweepJSON `json:"sweep,omitempty"`
	Lines       *lineJSON  `json:"lines,omitempty"`
}

type lineJSON struct {
	UpdatedAt string `json:"updated_at"`
	ID        int64  `json:"id"`
}

type sweepJSON struct {
	Completed *string `json:"completed,omitempty"`
	Started   *string `json:"started,omitempty"`
	After     int64   `json:"after,omitempty"`
}

// timeText is t in RFC 3339 (nanoseconds, UTC), nil when zero.
func timeText(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// parseTime reads what timeText wrote; nil is the zero time.
func parseTime(s *string, what string) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cursor %s: %w", what, err)
	}
	return t.UTC(), nil
}

// MarshalJSON writes the versioned form, e.g.
// {"v":2,"updated_at":"2024-01-02T03:04:05Z","id":92010,"mode":"incremental",...,"seq":17}.
// Datetimes are RFC 3339 UTC with second precision, like Coupa's own.
func (c Cursor) MarshalJSON() ([]byte, error) {
	out := cursorJSON{V: Version, ID: c.ID, Mode: c.Mode, Published: c.Published, Seq: c.Seq}
	if out.Mode == "" {
		out.Mode = Incremental
	}
	if !c.UpdatedAt.IsZero() {
		s := c.UpdatedAt.UTC().Format(time.RFC3339)
		out.UpdatedAt = &s
	}
	out.CommittedAt = timeText(c.CommittedAt)
	out.Adopted = timeText(c.Adopted)
	if c.Sweep != (Sweep{}) {
		out.Sweep = &sweepJSON{Completed: timeText(c.Sweep.Completed), Started: timeText(c.Sweep.Started), After: c.Sweep.After}
	}
	if !c.Lines.IsZero() {
		out.Lines = &lineJSON{UpdatedAt: c.Lines.UpdatedAt.UTC().Format(time.RFC3339), ID: c.Lines.ID}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads any known version and refuses unknown ones.
func (c *Cursor) UnmarshalJSON(b []byte) error {
	var in cursorJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("cursor is not JSON: %w", err)
	}
	switch {
	case in.V == 0:
		return errors.New(`cursor has no version ("v")`)
	case in.V > Version:
		return fmt.Errorf("cursor version %d is newer than this build understands (%d): upgrade coupa-kafka", in.V, Version)
	}
	if in.Seq < 0 {
		return fmt.Errorf("cursor seq %d is negative", in.Seq)
	}
	out := Cursor{ID: in.ID, Mode: in.Mode, Published: in.Published, Seq: in.Seq}
	switch out.Mode {
	case "":
		out.Mode = Incremental
	case Incremental, FullRefresh:
	default:
		return fmt.Errorf("cursor mode %q is unknown", in.Mode)
	}
	if in.UpdatedAt != nil {
		t, err := time.Parse(time.RFC3339, *in.UpdatedAt)
		if err != nil {
			return fmt.Errorf("cursor updated_at: %w", err)
		}
		out.UpdatedAt = t.UTC()
	}
	var err error
	if out.CommittedAt, err = parseTime(in.CommittedAt, "committed_at"); err != nil {
		return err
	}
	if out.Adopted, err = parseTime(in.Adopted, "adopted"); err != nil {
		return err
	}
	if in.Lines != nil {
		t, err := time.Parse(time.RFC3339, in.Lines.UpdatedAt)
		if err != nil {
			return fmt.Errorf("cursor lines updated_at: %w", err)
		}
		out.Lines = Position{UpdatedAt: t.UTC(), ID: in.Lines.ID}
	}
	if in.Sweep != nil {
		if in.Sweep.After < 0 {
			return fmt.Errorf("cursor sweep after %d is negative", in.Sweep.After)
		}
		out.Sweep.After = in.Sweep.After
		if out.Sweep.Completed, err = parseTime(in.Sweep.Completed, "sweep completed"); err != nil {
			return err
		}
		if out.Sweep.Started, err = parseTime(in.Sweep.Started, "sweep started"); err != nil {
			return err
		}
	}
	*c = out
	return nil
}

// Key identifies a cursor in the offsets topic: several Coupa instances (and
// so several producers) can share one offsets topic.
type Key struct {
	Instance string `json:"instance"`
	Table    string `json:"table"`
	// Kind is empty for the table's cursor and ResetKind for a reset
	// request of it (see ResetRequest).
	Kind string `json:"kind,omitempty"`
}

// ResetKind marks the key of a reset request.
const ResetKind = "reset"

// ResetRequest is the key under which `cursors reset` asks the producer of
// k's table to move its cursor: the value is the cursor to continue from,
// its CommittedAt the time of the request. The producer adopts it at the
// start of its next pass (or when it starts) and records that in its
// cursor's Adopted; it never writes this key. A request has its own key so
// that neither the producer's commits nor compaction can erase it before it
// is adopted.
func (k Key) ResetRequest() Key { return Key{Instance: k.Instance, Table: k.Table, Kind: ResetKind} }

// Cursor is the key of the table's cursor (k itself, for a cursor key).
func (k Key) Cursor() Key { return Key{Instance: k.Instance, Table: k.Table} }

// Bytes is the record key: {"instance":"<host>","table":"<table>"}, with
// "kind":"reset" for a reset request.
func (k Key) Bytes() []byte {
	b, _ := json.Marshal(k)
	return b
}

// Compare orders keys by instance, then table (for listings).
func (k Key) Compare(o Key) int {
	if c := strings.Compare(k.Instance, o.Instance); c != 0 {
		return c
	}
	if c := strings.Compare(k.Table, o.Table); c != 0 {
		return c
	}
	return strings.Compare(k.Kind, o.Kind)
}

// ParseKey reads a record key written by Bytes.
func ParseKey(b []byte) (Key, error) {
	var k Key
	if err := json.Unmarshal(b, &k); err != nil || k.Instance == "" || k.Table == "" {
		return Key{}, fmt.Errorf("offsets key %q is not {\"instance\":...,\"table\":...}", b)
	}
	if k.Kind != "" && k.Kind != ResetKind {
		return Key{}, fmt.Errorf("offsets key %q has an unknown kind (written by a newer build? upgrade coupa-kafka)", b)
	}
	return k, nil
}

// TransactionalID is the Kafka transactional id of the producer that owns
// the table: one per (instance, table), so a second process syncing the same
// table fences the first instead of interleaving with it.
func (k Key) TransactionalID() string {
	return "coupa-kafka." + k.Instance + "." + k.Table
}
