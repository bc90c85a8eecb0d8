package producer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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

// txnProducer is one table's transactional Kafka producer.
type txnProducer struct {
	table string
	opts  []kgo.Opt
	cl    *kgo.Client
	// lostBroker is when a connection to a broker last closed (Unix ns).
	lostBroker atomic.Int64
}

// OnBrokerDisconnect implements kgo.HookBrokerDisconnect.
func (p *txnProducer) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) {
	p.lostBroker.Store(time.Now().UnixNano())
}

// lostBrokerWithin reports whether a broker connection closed within d.
func (p *txnProducer) lostBrokerWithin(d time.Duration) bool {
	return time.Since(time.Unix(0, p.lostBroker.Load())) < d
}

// reset replaces the client with a new one, which initialises the producer
// id again.
func (p *txnProducer) reset(ctx context.Context) error {
	if p.cl != nil {
		p.cl.Close()
		p.cl = nil
	}
	return p.connect(ctx)
}

// newTxnProducer connects with the table's transactional id and initialises
// the producer id at once. That is what fences an older process with the same
// id and makes the coordinator abort its open transaction, so everything read
// afterwards (cursors, recent versions) is final.
func newTxnProducer(ctx context.Context, table, txnID string, base []kgo.Opt) (*txnProducer, error) {
	opts := append(append([]kgo.Opt(nil), base...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(2*time.Minute),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(100_000),
	)
	p := &txnProducer{table: table}
	p.opts = append(opts, kgo.WithHooks(p))
	if err := p.connect(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *txnProducer) connect(ctx context.Context) error {
	cl, err := kgo.NewClient(p.opts...)
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
// On failure the transaction is aborted (reconnecting if the client is left
// unusable) and the error returned; a fenced producer returns *FencedError.
func (p *txnProducer) commit(ctx context.Context, recs []*kgo.Record, hook func(step string) error) error {
	if err := p.cl.BeginTransaction(); err != nil {
		return p.fail(ctx, err)
	}
	if err := hook(stepBeforeProduce); err != nil {
		return p.crash(err)
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
		return p.fail(ctx, err)
	}
	if firstErr != nil {
		return p.fail(ctx, firstErr)
	}
	if err := hook(stepBeforeCommit); err != nil {
		return p.crash(err)
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return p.fail(ctx, err)
	}
	if err := hook(stepAfterCommit); err != nil {
		return p.crash(err)
	}
	return nil
}

// fail aborts the open transaction after an error.
func (p *txnProducer) fail(ctx context.Context, cause error) error {
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
		p.cl.Close()
		if cerr := p.connect(actx); cerr != nil {
			return errors.Join(cause, cerr)
		}
	}
	return cause
}

// crash simulates the process dying at a step (tests only): the client is
// dropped without aborting, as a kill -9 would leave it, and the pass stops.
func (p *txnProducer) crash(err error) error {
	p.cl.Close()
	p.cl = nil
	return &crashed{err}
}

// crashed is a test hook's simulated death: it ends the pass at once.
type crashed struct{ err error }

func (c *crashed) Error() string { return "simulated crash: " + c.err.Error() }
func (c *crashed) Unwrap() error { return c.err }

func (p *txnProducer) close() {
	if p.cl != nil {
		p.cl.Close()
	}
}

// The steps of a batch where tests inject failures.
const (
	stepBeforeProduce = "before-produce"
	stepBeforeCommit  = "before-commit"
	stepAfterCommit   = "after-commit"
)
