package producer

import (
	"context"
	"errors"
	"time"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// committer is the one goroutine of a pass that writes to Kafka. While it
// runs it alone owns the table's transactional producer and committed state
// (tableSync's cursor, seen, txn, stopped and stale) and the pass's books:
// each slice's committed position and the versions published in the pass.
// Workers and the generator talk to it only through its request channel, so
// the order in which it receives requests is the only order there is: a
// slice is registered before any batch of it arrives, and batches are
// committed one at a time, each answered before the next is taken.
//
// When stop returns the goroutine has ended and the state belongs to the
// pass's goroutine again (close, result).
type committer struct {
	ts   *tableSync
	in   chan request
	done chan struct{}
	prog *progress

	slices []sliceBook // by slice index
	// fetched maps an id published in this pass to when the published
	// version was read. Slices read concurrently, so an older version of a
	// record can reach its commit after a newer one (the record changed and
	// moved to a later slice in between); the version read later is the
	// newer one, and an earlier read never overwrites it.
	fetched   map[int64]int64
	pruned    int // len(fetched) after the last prune
	published int
}

// sliceBook is what the committer knows of one slice.
type sliceBook struct {
	// committed is the walk position after the slice's last commit: where a
	// failed transaction rewinds to, and how far the slice counts towards
	// the cursor.
	committed position
	done      bool // every record of the slice is committed
	// reading is no later than when the slice's worker began reading the
	// batch it holds (Unix ns; 0 once done): set when the slice is
	// registered and each time the worker is answered. Versions published
	// before every slice's reading can no longer be overwritten by a
	// stale read.
	reading int64
}

// request is what the committer is asked to do: register a slice (add) or
// commit a batch (commit).
type request struct {
	add    *sliceBook
	commit *batchRequest
	answer chan answer
}

// batchRequest is a worker's batch of slice: the records it read and
// converted, and where its walk stands after them.
type batchRequest struct {
	slice int
	batch []pending
	pos   position
	done  bool // the walk ended with this batch
}

// answer is the committer's reply to a batch.
type answer struct {
	// err is nil when the batch is committed (or there was nothing to
	// write).
	err error
	// committed is the slice's committed position: after a failure, where
	// its walk rewinds to.
	committed position
	// final means err ends the slice without a retry: the table stopped, a
	// commit in doubt left its state stale, or it was fenced.
	final bool
}

// startCommitter starts the committer of a pass; backlog is how many
// requests may wait for it (registrations should not wait on a commit).
// ctx is the pass's: when it ends, a commit still finishes (bounded by
// CommitTimeout) but a commit in doubt is no longer waited for.
func startCommitter(ctx context.Context, ts *tableSync, backlog int) *committer {
	cm := newCommitter(ts)
	cm.in = make(chan request, backlog)
	cm.done = make(chan struct{})
	go cm.loop(ctx)
	return cm
}

// newCommitter makes the committer's state; tests drive it without its
// goroutine (handle).
func newCommitter(ts *tableSync) *committer {
	return &committer{ts: ts, prog: newProgress(ts.log, ts.cfg.ProgressEvery), fetched: map[int64]int64{}}
}

func (cm *committer) loop(ctx context.Context) {
	defer close(cm.done)
	for req := range cm.in {
		if req.add != nil {
			cm.slices = append(cm.slices, *req.add)
			continue
		}
		req.answer <- cm.handle(ctx, *req.commit)
	}
}

// add registers the next slice of the pass, starting at from, whose
// worker reads from reading on (Unix ns): the n-th slice added has index n.
// Only the generator calls it, in slice order.
func (cm *committer) add(from position, reading int64) {
	cm.in <- request{add: &sliceBook{committed: from, reading: reading}}
}

// commit hands a batch to the committer and waits for its answer. A commit
// is bounded by CommitTimeout, also after the pass's context ended, so the
// wait is too.
func (cm *committer) commit(b batchRequest) answer {
	reply := make(chan answer, 1)
	cm.in <- request{commit: &b, answer: reply}
	return <-reply
}

// stop waits for the committer to finish what it was given; call it once no
// worker or generator can send any more.
func (cm *committer) stop() {
	close(cm.in)
	<-cm.done
}

// handle commits one batch: what it holds that is not published yet, with
// the cursor the pass reaches once the slice is at the batch's position.
func (cm *committer) handle(ctx context.Context, b batchRequest) answer {
	ts, book := cm.ts, &cm.slices[b.slice]
	defer func() { // the worker reads its next batch from now on
		if !book.done {
			book.reading = time.Now().UnixNano()
		}
	}()
	if err := ts.halted(); err != nil {
		return answer{err: err, committed: book.committed, final: true}
	}
	var recs []pending
	for _, p := range b.batch {
		if ok, _ := publishRule(ts.versionFacts(p, cm.fetched)); ok {
			recs = append(recs, p)
		}
	}
	before := *book
	book.committed, book.done = b.pos, b.done
	next := cm.cursor()
	if len(recs) > 0 || next.After(ts.cursor) {
		written, err := ts.publish(ctx, recs, next)
		if err != nil {
			*book = before
			var fenced *FencedError
			return answer{err: err, committed: book.committed, final: errors.As(err, &fenced) || ts.halted() != nil}
		}
		ts.committed(recs, written)
		for _, r := range recs {
			cm.fetched[r.id] = r.fetched
		}
		cm.pruneFetched()
		cm.published += len(recs)
		cm.prog.update(cm.published, ts.cursor)
	}
	if book.done {
		book.reading = 0
	}
	return answer{committed: book.committed}
}

// pruneFetched forgets versions read before every unfinished slice's
// current batch began: no read still in flight is older, so none can be
// blocked by them. This keeps the map to the records of the last few
// batches, not the pass.
func (cm *committer) pruneFetched() {
	if len(cm.fetched) < 2*cm.pruned+4*cm.ts.cfg.BatchRecords {
		return
	}
	oldest := time.Now().UnixNano()
	for _, s := range cm.slices {
		if s.reading != 0 && s.reading < oldest {
			oldest = s.reading
		}
	}
	for id, f := range cm.fetched {
		if f < oldest {
			delete(cm.fetched, id)
		}
	}
	cm.pruned = len(cm.fetched)
}

// cursor is the cursor the pass has reached (see cursorRule).
func (cm *committer) cursor() offsets.Cursor {
	progress := make([]sliceProgress, len(cm.slices))
	for i, s := range cm.slices {
		progress[i] = sliceProgress{committed: s.committed, done: s.done}
	}
	return cursorRule(cm.ts.cursor, progress)
}

// close writes the final cursor when the last commits left it behind (a
// slice that ended without records to publish) and ends a full refresh.
// It runs after stop, in the pass's goroutine.
func (cm *committer) close(ctx context.Context) error {
	retry := newCommitRetry(cm.ts)
	for {
		err := cm.closeOnce(ctx)
		if err == nil {
			return nil
		}
		var fenced *FencedError
		if errors.As(err, &fenced) || cm.ts.halted() != nil {
			return err
		}
		if err := retry.after(ctx, err, "writing the final cursor again"); err != nil {
			return err
		}
	}
}

func (cm *committer) closeOnce(ctx context.Context) error {
	ts := cm.ts
	if err := ts.halted(); err != nil {
		return err
	}
	next := cm.cursor()
	next.Mode = offsets.Incremental
	if !next.After(ts.cursor) && next.Mode == ts.cursor.Mode {
		return nil
	}
	written, err := ts.publish(ctx, nil, next)
	if err != nil {
		return err
	}
	ts.committed(nil, written)
	return nil
}
