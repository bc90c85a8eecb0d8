package producer

import (
	"context"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

var errCrash = errors.New("simulated crash")

// The steps of a transaction at which a test can act (stepClient).
const (
	stepBeforeProduce = "before-produce" // begun, nothing produced yet
	stepBeforeCommit  = "before-commit"  // produced and flushed, commit not sent
	stepAfterCommit   = "after-commit"   // commit confirmed, not yet returned
)

// process stands for the coupa-kafka process in a test: it wraps every
// transactional client a producer makes (Config.newTxnClient) and, at each
// step of each transaction, asks at what to do. When at returns true the
// process dies there, as kill -9 would leave it: the step does not happen,
// no client sends anything to Kafka any more (open transactions stay open
// until the coordinator or a successor ends them), and kill runs, which a
// test sets to cancel the sync so that it returns as the dead process would
// never do.
type process struct {
	at   func(table, step string, txn int) bool
	kill func()

	mu   sync.Mutex
	dead bool
	txns map[string]int // transactions begun, per table
}

// option installs the process in a producer's config.
func (pr *process) option(c *Config) {
	c.newTxnClient = func(table string, opts []kgo.Opt) (txnClient, error) {
		if pr.isDead() {
			return nil, errCrash
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, err
		}
		return &stepClient{Client: cl, table: table, pr: pr}, nil
	}
}

func (pr *process) isDead() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.dead
}

// step reports whether the process is dead after the step of table's
// current transaction, killing it there if at says so.
func (pr *process) step(table, step string) bool {
	pr.mu.Lock()
	if pr.txns == nil {
		pr.txns = map[string]int{}
	}
	if step == stepBeforeProduce {
		pr.txns[table]++
	}
	die := !pr.dead && pr.at != nil && pr.at(table, step, pr.txns[table])
	if die {
		pr.dead = true
	}
	dead := pr.dead
	pr.mu.Unlock()
	if die && pr.kill != nil {
		pr.kill()
	}
	return dead
}

// stepClient is a transactional client that belongs to a process.
type stepClient struct {
	*kgo.Client
	table    string
	pr       *process
	produced bool // the current transaction has produced
}

func (c *stepClient) ProducerID(ctx context.Context) (int64, int16, error) {
	if c.pr.isDead() {
		return 0, 0, errCrash
	}
	return c.Client.ProducerID(ctx)
}

func (c *stepClient) BeginTransaction() error {
	if c.pr.isDead() {
		return errCrash
	}
	c.produced = false
	return c.Client.BeginTransaction()
}

func (c *stepClient) Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	if !c.produced {
		c.produced = true
		if c.pr.step(c.table, stepBeforeProduce) {
			promise(r, errCrash)
			return
		}
	}
	if c.pr.isDead() {
		promise(r, errCrash)
		return
	}
	c.Client.Produce(ctx, r, promise)
}

func (c *stepClient) Flush(ctx context.Context) error {
	if c.pr.isDead() {
		return errCrash
	}
	return c.Client.Flush(ctx)
}

func (c *stepClient) AbortBufferedRecords(ctx context.Context) error {
	if c.pr.isDead() {
		return errCrash
	}
	return c.Client.AbortBufferedRecords(ctx)
}

func (c *stepClient) EndTransaction(ctx context.Context, commit kgo.TransactionEndTry) error {
	if commit == kgo.TryCommit && c.pr.step(c.table, stepBeforeCommit) {
		return errCrash
	}
	if c.pr.isDead() {
		return errCrash
	}
	if err := c.Client.EndTransaction(ctx, commit); err != nil {
		return err
	}
	if commit == kgo.TryCommit && c.pr.step(c.table, stepAfterCommit) {
		return errCrash
	}
	return nil
}
