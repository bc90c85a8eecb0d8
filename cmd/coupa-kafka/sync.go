package main

import (
	"context"
	"time"
)

// SyncCmd is `coupa-kafka sync`.
type SyncCmd struct {
	Flags `embed:""`
}

// Run brings every selected table up to date once and exits. Any failure
// exits non-zero with a one-line reason (main prints it).
func (c *SyncCmd) Run(ctx context.Context) error {
	a, err := open(ctx, &c.Flags, wiring{})
	if err != nil {
		return err
	}
	defer a.prod.Close()
	start := time.Now()
	results, err := a.prod.Sync(ctx)
	for _, r := range results {
		a.log.Info("table synced", "table", r.Table, "topic", r.Topic, "published", r.Published, "requests", r.Requests, "cursor", r.Cursor.String())
	}
	a.log.Info("sync finished", "took", time.Since(start).Round(time.Millisecond).String())
	return err
}
