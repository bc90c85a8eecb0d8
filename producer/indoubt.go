package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// A commit in doubt, and how it is settled.
//
// The answer to EndTxn(commit) can be lost: the transaction coordinator (or
// the broker hosting it) dies after it wrote PrepareCommit to its log, the
// connection is cut after the request left, or the coordinator moves
// (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) or times out for longer
// than franz-go retries. franz-go retries EndTxn itself while it can (a
// retried commit of a transaction that already committed is answered with
// success, also under KIP-890's epoch bump), so an error reaching us means
// the outcome is unknown: the coordinator may have committed, may abort, or
// may not have seen the request at all. Treating that as "not committed"
// publishes the batch twice; treating it as "committed" can lose it.
//
// So the producer settles the question before it does anything else with
// the table:
//
//  1. The client is dropped without ending its transaction, and a new
//     client of the same transactional id initialises its producer id.
//     Kafka's InitProducerId does not return while the id's previous
//     transaction is in PrepareCommit or PrepareAbort (it answers
//     CONCURRENT_TRANSACTIONS and franz-go retries), and it aborts one that
//     is still Ongoing; it returns once the outcome is final and its markers
//     are written. (franz-go's documented TryAbort retry would re-initialise
//     at the old epoch instead, which a KIP-890 commit has already bumped:
//     that is how a lone producer used to be "fenced" after a broker crash.)
//  2. The offsets topic is read with read_committed after every transaction
//     open on it has ended (offsets.LoadSettled): a transaction of another
//     table can hold the last stable offset back behind our cursor, and a
//     read that stopped there would miss a commit that happened.
//  3. Every cursor carries a per-table sequence number and its commit clock
//     (offsets.Cursor.Seq, CommittedAt). If the committed cursor is the one
//     the in-doubt transaction wrote, the batch committed and the in-memory
//     state moves forward as after any commit. If it is the cursor committed
//     before, the batch aborted and its slice rewinds and publishes it again.
//     Anything else means another writer changed the cursor meanwhile
//     (another process; `cursors reset` writes a request under its own key
//     instead, see reset.go): the table stops.
//
// No timing heuristic is involved. Until the doubt is settled nothing else is
// committed for the table (commits are serialised), and if it cannot be
// settled before the pass ends (Kafka unreachable, shutdown), the table's
// in-memory state is marked stale and reloaded from Kafka, exactly as after a
// restart, before its next pass.

// InDoubtError is a commit whose outcome the producer could not confirm.
type InDoubtError struct {
	Table string
	Err   error
}

func (e *InDoubtError) Error() string {
	return fmt.Sprintf("table %s: the commit's answer was lost, its outcome is unknown: %v", e.Table, e.Err)
}

func (e *InDoubtError) Unwrap() error { return e.Err }

// errAbortedInDoubt is an in-doubt commit found to have aborted.
var errAbortedInDoubt = errors.New("a commit in doubt turned out aborted")

// settle finds out whether the in-doubt transaction that wrote the cursor
// written committed: it returns nil if it did, an error wrapping
// errAbortedInDoubt if it did not, a *FencedError or an error about another
// writer if the table must stop. It tries until it knows or ctx ends; then
// the table is marked stale.
func (ts *tableSync) settle(ctx context.Context, written offsets.Cursor, doubt *InDoubtError) error {
	ts.log.Warn("commit in doubt; settling it from the offsets topic", "seq", written.Seq, "error", doubt.Err.Error())
	retry := newRetryBackoff()
	initialised := false
	for {
		committed, err := ts.settleOnce(ctx, written, &initialised)
		var fenced *FencedError
		switch {
		case err == nil && committed:
			ts.cfg.Metrics.inDoubt(ts.table.Name, "committed")
			ts.log.Info("commit in doubt was committed", "seq", written.Seq, "cursor", written.String())
			return nil
		case err == nil:
			ts.cfg.Metrics.inDoubt(ts.table.Name, "aborted")
			ts.log.Info("commit in doubt was aborted; publishing the batch again", "seq", written.Seq)
			return fmt.Errorf("%w: %w", errAbortedInDoubt, doubt)
		case errors.As(err, &fenced):
			return err
		case errors.Is(err, errOtherWriter):
			ts.stopped = err
			return err
		case permanent(err):
			ts.stopped = fmt.Errorf("table %s stopped: a commit in doubt cannot be settled: %w", ts.table.Name, err)
			return ts.stopped
		}
		wait := retry.NextBackOff()
		ts.log.Warn("cannot settle the commit in doubt yet", "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())
		if serr := sleep(ctx, wait); serr != nil {
			ts.stale = true
			return fmt.Errorf("table %s: the outcome of a commit in doubt is still unknown (the table's state will be reloaded from Kafka): %w", ts.table.Name, errors.Join(doubt, err))
		}
	}
}

// errOtherWriter is a committed cursor written neither by the in-doubt
// transaction nor by the commit before it.
var errOtherWriter = errors.New("another writer changed the table's cursor")

// permanent is an error that no retry of settleOnce can get past.
func permanent(err error) bool {
	return errors.Is(err, offsets.ErrNoOffsetsTopic) || errors.Is(err, offsets.ErrBadCursor) ||
		errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed)
}

// settleOnce re-initialises the producer once (which finishes the in-doubt
// transaction; doing it again would only bump the epoch once more) and reads
// the committed cursor back.
func (ts *tableSync) settleOnce(ctx context.Context, written offsets.Cursor, initialised *bool) (committed bool, err error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ts.cfg.CommitTimeout)
	defer cancel()
	if !*initialised {
		if err := ts.txn.reset(actx); err != nil {
			return false, err
		}
		*initialised = true
	}
	cursors, err := offsets.LoadSettled(actx, ts.cfg.OffsetsTopic, ts.cfg.Kafka...)
	if err != nil {
		return false, fmt.Errorf("reading the committed cursor: %w", err)
	}
	got := cursors[ts.key]
	switch {
	case got.WrittenBy(written):
		return true, nil
	case got.WrittenBy(ts.cursor):
		return false, nil
	}
	return false, fmt.Errorf("table %s: %w (committed cursor %s seq %d; this process wrote seq %d and was settling seq %d): stopping the table",
		ts.table.Name, errOtherWriter, got, got.Seq, ts.cursor.Seq, written.Seq)
}
