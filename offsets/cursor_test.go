package offsets_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The cursor JSON is a public contract (it lives in users' Kafka clusters
// across upgrades): these golden files pin it byte for byte. This build
// writes version 4; the version 1 to 3 files are what older builds wrote,
// and must still read (see TestOlderCursorsStillRead).
func TestCursorGolden(t *testing.T) {
	for name, c := range goldenV4 {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".json")
			if *update {
				os.WriteFile(path, append(got, '\n'), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != strings.TrimSpace(string(want)) {
				t.Errorf("encoding changed:\n got  %s\n want %s", got, want)
			}
			assertDecodes(t, want, c)
		})
	}
}

var goldenV4 = map[string]offsets.Cursor{
	"cursor_v4_zero": {},
	"cursor_v4": {
		UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 92010, Mode: offsets.Incremental,
		Published: 1234, CommittedAt: time.Date(2024, 1, 2, 3, 10, 0, 123456789, time.UTC), Seq: 17,
		Adopted: time.Date(2024, 1, 1, 8, 0, 0, 5000, time.UTC),
		Sweep:   offsets.Sweep{Completed: time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC), Started: time.Date(2024, 1, 2, 2, 0, 0, 700, time.UTC), After: 51234},
	},
	"cursor_v4_swept": {
		UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 92010, Seq: 18,
		Sweep: offsets.Sweep{Completed: time.Date(2024, 1, 2, 2, 30, 0, 0, time.UTC)},
	},
	"cursor_v4_full_refresh": {
		UpdatedAt: time.Date(2019, 6, 30, 23, 59, 59, 0, time.UTC), ID: 7, Mode: offsets.FullRefresh, Seq: 1,
	},
	"cursor_v4_lines": {
		UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 4101, Seq: 9,
		Lines: offsets.Position{UpdatedAt: time.Date(2024, 1, 2, 3, 0, 1, 0, time.UTC), ID: 410102},
	},
}

// Cursors written by older builds stay readable after an upgrade. Version 1
// cursors read as sequence 0, so the first commit of this build writes
// sequence 1; versions 1 and 2 have adopted no reset request; versions 1 to
// 3 have no sweep (the first one is due at once).
func TestOlderCursorsStillRead(t *testing.T) {
	for name, c := range map[string]offsets.Cursor{
		"cursor_v3_zero": {},
		"cursor_v3": {
			UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 92010, Mode: offsets.Incremental,
			Published: 1234, CommittedAt: time.Date(2024, 1, 2, 3, 10, 0, 123456789, time.UTC), Seq: 17,
			Adopted: time.Date(2024, 1, 1, 8, 0, 0, 5000, time.UTC),
		},
		"cursor_v3_full_refresh": {
			UpdatedAt: time.Date(2019, 6, 30, 23, 59, 59, 0, time.UTC), ID: 7, Mode: offsets.FullRefresh, Seq: 1,
		},
		"cursor_v2_zero": {},
		"cursor_v2": {
			UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 92010, Mode: offsets.Incremental,
			Published: 1234, CommittedAt: time.Date(2024, 1, 2, 3, 10, 0, 123456789, time.UTC), Seq: 17,
		},
		"cursor_v2_full_refresh": {
			UpdatedAt: time.Date(2019, 6, 30, 23, 59, 59, 0, time.UTC), ID: 7, Mode: offsets.FullRefresh, Seq: 1,
		},
		"cursor_v1_zero": {Mode: offsets.Incremental},
		"cursor_v1": {
			UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 92010, Mode: offsets.Incremental,
			Published: 1234, CommittedAt: time.Date(2024, 1, 2, 3, 10, 0, 123000000, time.UTC),
		},
		"cursor_v1_full_refresh": {
			UpdatedAt: time.Date(2019, 6, 30, 23, 59, 59, 0, time.UTC), ID: 7, Mode: offsets.FullRefresh,
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			assertDecodes(t, b, c)
		})
	}
}

func assertDecodes(t *testing.T, b []byte, want offsets.Cursor) {
	t.Helper()
	if want.Mode == "" {
		want.Mode = offsets.Incremental
	}
	var got offsets.Cursor
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) || got.ID != want.ID || got.Mode != want.Mode || got.Published != want.Published ||
		!got.CommittedAt.Equal(want.CommittedAt) || got.Seq != want.Seq || !got.Adopted.Equal(want.Adopted) ||
		!got.Sweep.Completed.Equal(want.Sweep.Completed) || !got.Sweep.Started.Equal(want.Sweep.Started) || got.Sweep.After != want.Sweep.After ||
		!got.Lines.UpdatedAt.Equal(want.Lines.UpdatedAt) || got.Lines.ID != want.Lines.ID {
		t.Errorf("decoded %s as %+v, want %+v", b, got, want)
	}
}

// WrittenBy tells the transaction that wrote a cursor from its neighbours:
// the in-doubt commit resolution depends on it.
func TestCursorWrittenBy(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	mine := offsets.Cursor{UpdatedAt: at, ID: 9, Seq: 5, CommittedAt: at.Add(time.Minute + 7)}
	var back offsets.Cursor
	b, _ := json.Marshal(mine)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.WrittenBy(mine) {
		t.Errorf("%s read back is not recognised as written by %+v", b, mine)
	}
	for name, other := range map[string]offsets.Cursor{
		"the previous commit":          {UpdatedAt: at, ID: 9, Seq: 4, CommittedAt: at},
		"same seq, another writer":     {UpdatedAt: at, ID: 9, Seq: 5, CommittedAt: at.Add(time.Minute + 8)},
		"same clock, another sequence": {UpdatedAt: at, ID: 9, Seq: 6, CommittedAt: mine.CommittedAt},
		"a version 1 cursor (no seq)":  {UpdatedAt: at, ID: 9, CommittedAt: mine.CommittedAt},
	} {
		if other.WrittenBy(mine) {
			t.Errorf("%s is taken for the in-doubt commit", name)
		}
	}
}

func TestCursorDecodeRefusals(t *testing.T) {
	for in, errHas := range map[string]string{
		`{"id":1}`:                            `no version`,
		`{"v":5,"id":1}`:                      `newer than this build`,
		`{"v":4,"sweep":{"after":-2}}`:        `sweep after -2`,
		`{"v":4,"sweep":{"started":"noon"}}`:  `sweep started`,
		`{"v":4,"lines":{"updated_at":"x"}}`:  `lines updated_at`,
		`{"v":2,"seq":-1}`:                    `seq -1`,
		`{"v":1,"mode":"sideways"}`:           `mode "sideways"`,
		`{"v":1,"updated_at":"yesterday"}`:    `updated_at`,
		`not json`:                            `not JSON`,
		`{"v":1,"updated_at":"2024-01-02"}`:   `updated_at`,
		`{"v":1,"committed_at":"2024-01-02"}`: `committed_at`,
	} {
		var c offsets.Cursor
		err := c.UnmarshalJSON([]byte(in))
		if err == nil || !strings.Contains(err.Error(), errHas) {
			t.Errorf("%s: error %v, want %q", in, err, errHas)
		}
	}
}

func TestCovers(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	c := offsets.Cursor{UpdatedAt: at, ID: 10}
	for _, tc := range []struct {
		at   time.Time
		id   int64
		want bool
	}{
		{at.Add(-time.Second), 999, true},
		{at, 9, true},
		{at, 10, true},
		{at, 11, false},
		{at.Add(time.Second), 1, false},
	} {
		if got := c.Covers(tc.at, tc.id); got != tc.want {
			t.Errorf("Covers(%s, %d) = %v", tc.at, tc.id, got)
		}
	}
	if (offsets.Cursor{}).Covers(time.Unix(0, 0), 1) {
		t.Error("the zero cursor covers a record")
	}
}

func TestKey(t *testing.T) {
	k := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	if got := string(k.Bytes()); got != `{"instance":"acme.coupahost.com","table":"invoices"}` {
		t.Errorf("key bytes %s", got)
	}
	back, err := offsets.ParseKey(k.Bytes())
	if err != nil || back != k {
		t.Errorf("ParseKey: %v %v", back, err)
	}
	if _, err := offsets.ParseKey([]byte(`{"table":"x"}`)); err == nil {
		t.Error("a key without instance parsed")
	}
	if got := k.TransactionalID(); got != "coupa-kafka.acme.coupahost.com.invoices" {
		t.Errorf("transactional id %s", got)
	}
}
