package producer

import "github.com/coupa-kafka/coupa-kafka/offsets"

// The two decisions a pass makes about data, as pure functions: they are
// where a mistake would lose or duplicate a record, so they are tested on
// their own (rules_test.go) as well as through every sync test.

// sliceProgress is what the cursor rule needs to know of one slice.
type sliceProgress struct {
	committed position // the walk position after the slice's last commit
	done      bool     // every record of the slice is committed
}

// cursorRule is how far the table's cursor may move: over the finished
// prefix of the pass, up to the committed position of the earliest slice
// that is not finished (slices in their order). A later slice's commits do
// not move it: the records between are not all published yet. The cursor
// never moves back (a pass that starts in the lookback window is behind it)
// and keeps its mode and counters.
func cursorRule(committed offsets.Cursor, slices []sliceProgress) offsets.Cursor {
	next := committed
	var pos position
	for _, s := range slices {
		pos = s.committed
		if !s.done {
			break
		}
	}
	if p := (offsets.Cursor{UpdatedAt: pos.at, ID: pos.id}); p.After(next) {
		next.UpdatedAt, next.ID = p.UpdatedAt, p.ID
	}
	return next
}

// publishReason is why the publish rule publishes a version or skips it.
type publishReason string

const (
	publishNew         publishReason = "new"                          // not published with this content
	publishRefresh     publishReason = "full refresh past the cursor" // republished on purpose
	skipRefreshCovered publishReason = "full refresh, at or before the cursor"
	skipPublished      publishReason = "published already with the same content"
	skipStale          publishReason = "a newer read of the record was published in this pass"
)

// versionFacts are what the publish rule weighs about one version read.
type versionFacts struct {
	mode      offsets.Mode
	covered   bool // the table's cursor covers (updated_at, id)
	published bool // the same id, updated_at and content are in the topic
	// readBefore: another slice published this id from a read made after
	// this one. Slices read concurrently, so an older version can reach its
	// commit after a newer one; the later read wins.
	readBefore bool
}

// publishRule decides whether a version read from Coupa is published. A
// full refresh republishes everything past its cursor; an incremental pass
// publishes what is not in the topic yet (the lookback re-reads versions,
// parallel slices publish ahead of the cursor, and two changes within one
// second share an updated_at, so content decides). Neither overwrites a
// version read later.
func publishRule(f versionFacts) (bool, publishReason) {
	switch {
	case f.readBefore:
		return false, skipStale
	case f.mode == offsets.FullRefresh && f.covered:
		return false, skipRefreshCovered
	case f.mode == offsets.FullRefresh:
		return true, publishRefresh
	case f.published:
		return false, skipPublished
	}
	return true, publishNew
}
