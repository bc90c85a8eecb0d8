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
// across upgrades): these golden files pin it byte for byte.
func TestCursorGolden(t *testing.T) {
	for name, c := range map[string]offsets.Cursor{
		"cursor_v1_zero": {},
		"cursor_v1": {
			UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: 92010, Mode: offsets.Incremental,
			Published: 1234, CommittedAt: time.Date(2024, 1, 2, 3, 10, 0, 123000000, time.UTC),
		},
		"cursor_v1_full_refresh": {
			UpdatedAt: time.Date(2019, 6, 30, 23, 59, 59, 0, time.UTC), ID: 7, Mode: offsets.FullRefresh,
		},
	} {
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
			var back offsets.Cursor
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			if !back.UpdatedAt.Equal(c.UpdatedAt) || back.ID != c.ID || back.Published != c.Published || !back.CommittedAt.Equal(c.CommittedAt) {
				t.Errorf("round trip: %+v != %+v", back, c)
			}
		})
	}
}

func TestCursorDecodeRefusals(t *testing.T) {
	for in, errHas := range map[string]string{
		`{"id":1}`:                            `no version`,
		`{"v":2,"id":1}`:                      `newer than this build`,
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
