package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// FencedError means another process took over the table's transactional id:
// it is now the table's only writer, and this one stops that table rather
// than fight over it.
type FencedError struct {
	Table string
	Err   error
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("table %s: another coupa-kafka process now owns this table (its transactional id was fenced: %v); this process stopped syncing it", e.Table, e.Err)
}

func (e *FencedError) Unwrap() error { return e.Err }

func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// txnClient is what a transactional producer needs of a Kafka client. It is
// a *kgo.Client; tests wrap one to fail on cue (a crash at a step of a
// transaction), so that no test seam lives in the transaction path.
type txnClient interface {
	ProducerID(ctx context.Context) (int64, int16, error)
	BeginTransaction() error
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Flush(ctx context.Context) error
	AbortBufferedRecords(ctx context.Context) error
	EndTransaction(ctx context.Context, commit kgo.TransactionEndTry) error
	Close()
}

// newKgoClient is how production makes a txnClient.
func newKgoClient(_ string, opts []kgo.Opt) (txnClient, error) { return kgo.NewClient(opts...) }

// txnProducer is one table's transactional Kafka producer.
type txnProducer struct {
	table     string
	opts      []kgo.Opt
	newClient func(table string, opts []kgo.Opt) (txnClient, error)
	cl        txnClient
}

// reset replaces the client with a new one, which initialises the producer
// id again. A new client's InitProducerId ends whatever an earlier client of
// the same transactional id left behind: an ongoing transaction is aborted,
// one the coordinator had decided (PrepareCommit, PrepareAbort) is completed
// first, and the call returns only when that is done (see inDoubt.go).
func (p *txnProducer) reset(ctx context.Context) error {
	p.drop()
	return p.connect(ctx)
}

// drop closes the client without ending its transaction, as a crash would.
func (p *txnProducer) drop() {
	if p.cl != nil {
		p.cl.Close()
		p.cl = nil
	}
}

// newTxnProducer connects with the table's transactional id and initialises
// the producer id at once. That is what fences an older process with the same
// id and makes the coordinator abort its open transaction, so everything read
// afterwards (cursors, recent versions) is final.
func newTxnProducer(ctx context.Context, table, txnID string, base []kgo.Opt, newClient func(string, []kgo.Opt) (txnClient, error)) (*txnProducer, error) {
	opts := append(append([]kgo.Opt(nil), base...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(2*time.Minute),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(100_000),
	)
	p := &txnProducer{table: table, opts: opts, newClient: newClient}
	if err := p.connect(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *txnProducer) connect(ctx context.Context) error {
	cl, err := p.newClient(p.table, p.opts)
	if err != nil {
		return err
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		if isFenced(err) {
			return &FencedError{Table: p.table, Err: err}
		}
		return fmt.Errorf("table %s: initialising the transactional producer: %w", p.table, err)
	}
	p.cl = cl
	return nil
}

// commit publishes recs in one transaction: begin, produce, flush, commit.
// Either all of recs become visible to read_committed consumers, or none do.
//
// It returns nil when the commit was confirmed; *FencedError when another
// producer owns the transactional id; *InDoubtError when the commit was
// sent but its answer never came (the transaction may have committed: see
// inDoubt.go); any other error when the transaction did not commit, after
// aborting it (reconnecting if the client is left unusable).
func (p *txnProducer) commit(ctx context.Context, recs []*kgo.Record) error {
	if err := p.cl.BeginTransaction(); err != nil {
		return p.abort(ctx, err)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	for _, r := range recs {
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	if err := p.cl.Flush(ctx); err != nil {
		return p.abort(ctx, err)
	}
	if firstErr != nil {
		return p.abort(ctx, firstErr)
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return p.commitFailed(ctx, err)
	}
	return nil
}

// commitFailed sorts an EndTransaction(TryCommit) error into a fence, a
// commit that was never sent (abort it), or a commit in doubt. A client whose
// commit is in doubt is dropped: only a new client's InitProducerId settles
// the transaction without risking a fence of our own making (franz-go's
// TryAbort would re-initialise at the old epoch, which a commit under
// KIP-890 has already bumped).
func (p *txnProducer) commitFailed(ctx context.Context, err error) error {
	switch {
	case isFenced(err):
		return &FencedError{Table: p.table, Err: err}
	case errors.Is(err, kerr.OperationNotAttempted), errors.Is(err, kerr.TransactionAbortable):
		// franz-go refused to send the commit (a failed producer id, or a
		// topic recreated under the transaction): nothing was committed.
		return p.abort(ctx, err)
	}
	p.drop()
	return &InDoubtError{Table: p.table, Err: err}
}

// abort ends the open transaction after an error that happened before the
// commit was sent: the transaction cannot have committed.
func (p *txnProducer) abort(ctx context.Context, cause error) error {
	if isFenced(cause) {
		return &FencedError{Table: p.table, Err: cause}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := p.cl.AbortBufferedRecords(actx)
	if err == nil {
		err = p.cl.EndTransaction(actx, kgo.TryAbort)
	}
	if err != nil {
		if isFenced(err) {
			return &FencedError{Table: p.table, Err: err}
		}
		// The client may be stuck in a failed state: start afresh. A new
		// producer id init also aborts whatever the old one left open.
		if cerr := p.reset(actx); cerr != nil {
			return errors.Join(cause, cerr)
		}
	}
	return cause
}

func (p *txnProducer) close() { p.drop() }
