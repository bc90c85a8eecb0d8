package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coupa-kafka/coupa-kafka/producer"
)

// SyncCmd is `coupa-kafka sync`.
type SyncCmd struct {
	Flags `embed:""`
}

// Run brings every selected table up to date once and exits. Any failure,
// and an interruption (SIGINT, SIGTERM), exits non-zero with a one-line
// reason (main prints it): a scheduler must never record a sync that did not
// finish as a success.
//
// With COUPA_CONFIG, every instance is synced at once, each on its own
// request budget, and the sync fails if any instance's does (the error
// names each).
func (c *SyncCmd) Run(ctx context.Context) error {
	if c.Config == "" {
		return syncOne(ctx, &c.Flags, wiring{})
	}
	if err := c.validate(true); err != nil {
		return err
	}
	list, err := c.instances()
	if err != nil {
		return err
	}
	log := c.logger()
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, in := range list {
		f := c.forInstance(in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := syncOne(ctx, &f, wiring{log: log.With("instance", in.Name)}); err != nil {
				errs[i] = fmt.Errorf("instance %s: %w", in.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncOne is one instance's sync.
func syncOne(ctx context.Context, f *Flags, w wiring) error {
	a, err := open(ctx, f, w)
	if err != nil {
		return err
	}
	defer a.prod.Close()
	start := time.Now()
	results, err := a.prod.Sync(ctx)
	return summarizeSync(a.log, results, err, ctx.Err() != nil, time.Since(start))
}

// errSyncInterrupted ends a sync that a signal stopped. It deliberately does
// not wrap context.Canceled, which main treats as a clean stop.
var errSyncInterrupted = errors.New("sync interrupted before every table was up to date")

// summarizeSync logs each table's outcome ("table synced" only for a table
// the pass brought up to date) and returns what makes sync exit non-zero.
func summarizeSync(log *slog.Logger, results []producer.PassResult, syncErr error, interrupted bool, took time.Duration) error {
	synced := 0
	for _, r := range results {
		if r.Err != nil {
			log.Error("table not synced", "table", r.Table, "topic", r.Topic, "published", r.Published, "cursor", r.Cursor.String(), "error", r.Err.Error())
			continue
		}
		synced++
		log.Info("table synced", "table", r.Table, "topic", r.Topic, "published", r.Published, "requests", r.Requests, "cursor", r.Cursor.String())
	}
	switch {
	case interrupted:
		log.Warn("sync interrupted", "synced_tables", synced, "tables", len(results), "took", took.Round(time.Millisecond).String())
		return fmt.Errorf("%w (%d of %d tables synced)", errSyncInterrupted, synced, len(results))
	case syncErr != nil:
		log.Error("sync failed", "synced_tables", synced, "tables", len(results), "took", took.Round(time.Millisecond).String())
		return syncErr
	}
	log.Info("sync finished", "tables", len(results), "took", took.Round(time.Millisecond).String())
	return nil
}
