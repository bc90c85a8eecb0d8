package producer

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// commitRetry paces the retries of failed transactions of one slice (or of
// the pass's final cursor).
type commitRetry struct {
	ts       *tableSync
	backoff  *backoff.ExponentialBackOff
	failures int
}

func newCommitRetry(ts *tableSync) *commitRetry {
	return &commitRetry{ts: ts, backoff: newRetryBackoff()}
}

func (r *commitRetry) reset() {
	r.backoff.Reset()
	r.failures = 0
}

// after decides what follows the failed transaction err, which the caller
// knows to be worth another try as far as the table goes (not fenced, not
// stopped): nil after waiting the backoff; otherwise the error that ends the
// pass (shutdown, too many failures in a row).
func (r *commitRetry) after(ctx context.Context, err error, what string, logArgs ...any) error {
	if ctx.Err() != nil {
		return err
	}
	ts := r.ts
	ts.cfg.Metrics.aborted(ts.table.Name)
	if r.failures++; r.failures >= ts.cfg.MaxCommitAttempts {
		return fmt.Errorf("table %s: giving up after %d failed transactions: %w", ts.table.Name, r.failures, err)
	}
	wait := r.backoff.NextBackOff()
	ts.log.Warn("transaction failed; "+what, append(logArgs, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())...)
	return sleep(ctx, wait)
}
