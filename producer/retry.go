package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// commitRetry paces the retries of failed transactions of one slice (or of
// the pass's final cursor).
type commitRetry struct {
	ps       *passState
	backoff  *backoff.ExponentialBackOff
	failures int
}

func (ps *passState) newCommitRetry() *commitRetry {
	return &commitRetry{ps: ps, backoff: newRetryBackoff()}
}

func (r *commitRetry) reset() {
	r.backoff.Reset()
	r.failures = 0
}

// after decides what follows the failed transaction err: nil after waiting
// the backoff, when it is worth trying again; otherwise the error that ends
// the pass (a fence, a stopped table, shutdown, too many failures in a row).
func (r *commitRetry) after(ctx context.Context, err error, what string, logArgs ...any) error {
	var (
		fenced *FencedError
		dead   *crashed
	)
	ts := r.ps.ts
	r.ps.mu.Lock() // settle, in another slice's commit, may set them
	halted := ts.stopped != nil || ts.stale
	r.ps.mu.Unlock()
	if errors.As(err, &fenced) || errors.As(err, &dead) || halted || ctx.Err() != nil {
		return err
	}
	ts.cfg.Metrics.aborted(ts.table.Name)
	if r.failures++; r.failures >= ts.cfg.MaxCommitAttempts {
		return fmt.Errorf("table %s: giving up after %d failed transactions: %w", ts.table.Name, r.failures, err)
	}
	wait := r.backoff.NextBackOff()
	ts.log.Warn("transaction failed; "+what, append(logArgs, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())...)
	return sleep(ctx, wait)
}
