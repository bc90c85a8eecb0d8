package producer

import (
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

func TestCursorRule(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2025, 1, 1, 0, 0, s, 0, time.UTC) }
	pos := func(s int, id int64) position { return position{at: at(s), id: id} }
	committed := offsets.Cursor{UpdatedAt: at(10), ID: 5, Mode: offsets.Incremental, Published: 7, Seq: 3}
	for _, tc := range []struct {
		name   string
		slices []sliceProgress
		want   offsets.Cursor // position only; mode and counters must be kept
	}{
		{"no slices", nil, committed},
		{"first slice moved", []sliceProgress{{committed: pos(20, 9)}}, offsets.Cursor{UpdatedAt: at(20), ID: 9}},
		{"first slice done, second moved", []sliceProgress{{committed: pos(20, 9), done: true}, {committed: pos(30, 1)}}, offsets.Cursor{UpdatedAt: at(30), ID: 1}},
		{"a later slice ahead, the first behind", []sliceProgress{{committed: pos(15, 2)}, {committed: pos(40, 1), done: true}}, offsets.Cursor{UpdatedAt: at(15), ID: 2}},
		{"every slice done", []sliceProgress{{committed: pos(20, 9), done: true}, {committed: pos(50, 4), done: true}}, offsets.Cursor{UpdatedAt: at(50), ID: 4}},
		{"never back: a pass starting in the lookback", []sliceProgress{{committed: pos(5, 1)}}, committed},
		{"never back: same second, lower id", []sliceProgress{{committed: pos(10, 4), done: true}}, committed},
		{"same second, higher id", []sliceProgress{{committed: pos(10, 6)}}, offsets.Cursor{UpdatedAt: at(10), ID: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cursorRule(committed, tc.slices)
			if !got.UpdatedAt.Equal(tc.want.UpdatedAt) || got.ID != tc.want.ID {
				t.Errorf("cursor %s, want %s", got, tc.want)
			}
			if got.Mode != committed.Mode || got.Published != committed.Published || got.Seq != committed.Seq {
				t.Errorf("mode or counters changed: %+v", got)
			}
		})
	}
}

func TestPublishRule(t *testing.T) {
	inc, full := offsets.Incremental, offsets.FullRefresh
	for _, tc := range []struct {
		f    versionFacts
		want publishReason
	}{
		{versionFacts{mode: inc}, publishNew},
		{versionFacts{mode: inc, covered: true}, publishNew}, // a late write inside the lookback
		{versionFacts{mode: inc, published: true}, skipPublished},
		{versionFacts{mode: inc, published: true, covered: true}, skipPublished},
		{versionFacts{mode: inc, readBefore: true}, skipStale},
		{versionFacts{mode: full}, publishRefresh},
		{versionFacts{mode: full, published: true}, publishRefresh}, // a refresh republishes on purpose
		{versionFacts{mode: full, covered: true}, skipRefreshCovered},
		{versionFacts{mode: full, readBefore: true}, skipStale},
	} {
		ok, why := publishRule(tc.f)
		if why != tc.want || ok != (tc.want == publishNew || tc.want == publishRefresh) {
			t.Errorf("%+v: %v (%s), want %s", tc.f, ok, why, tc.want)
		}
	}
}
