package producer

import (
	"context"
	"fmt"

	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// Live resets. `cursors reset` does not write a table's cursor: that would
// take the transactional id from a running producer (fencing it) or be
// overwritten by its next commit. It writes a reset request under its own
// key (offsets.Key.ResetRequest), and the table's producer adopts it at the
// start of its next pass: a running one learns of it from watchResets,
// one that starts finds it when it restores its state.

// watchResets hands every reset request written to the offsets topic to
// its table until ctx ends (Run runs it beside the tables).
func (p *Producer) watchResets(ctx context.Context) {
	byKey := map[offsets.Key]*tableSync{}
	for _, ts := range p.tables {
		byKey[ts.key] = ts
	}
	err := offsets.WatchResets(ctx, p.cfg.OffsetsTopic, func(k offsets.Key, r offsets.Cursor) {
		if ts := byKey[k.Cursor()]; ts != nil {
			ts.resetRequest.Store(&r)
		}
	}, p.cfg.Kafka...)
	if err != nil {
		p.cfg.Logger.Error("cannot follow the offsets topic: cursor resets are adopted only at the next start", "error", err.Error())
	}
}

// adoptReset moves the table to the cursor a reset request asked for, when
// one is pending: as at a restart, the versions published from the new
// cursor's lookback window on are read back, and the new cursor, which
// records the request as adopted, is committed at once (a crash before that
// commit leaves the request pending, and it is adopted again). If anything
// fails, the table's state is reloaded from Kafka before its next pass.
func (ts *tableSync) adoptReset(ctx context.Context) error {
	r := ts.resetRequest.Load()
	if r == nil || !ts.cursor.Pending(*r) {
		return nil
	}
	from := ts.cursor
	to := from // counters and the identity of the committed cursor stay
	to.UpdatedAt, to.ID, to.Mode, to.Adopted = r.UpdatedAt, r.ID, r.Mode, r.CommittedAt
	if err := ts.restore(ctx, to); err != nil {
		ts.stale = true
		return fmt.Errorf("table %s: adopting a cursor reset: %w", ts.table.Name, err)
	}
	written, err := ts.publish(ctx, nil, to)
	if err != nil {
		ts.stale = true
		return fmt.Errorf("table %s: committing an adopted cursor reset: %w", ts.table.Name, err)
	}
	ts.committed(nil, written)
	ts.log.Info("adopted a cursor reset", "from", from.String(), "to", written.String(), "mode", written.Mode,
		"requested_at", r.CommittedAt.Format("2006-01-02T15:04:05.000Z07:00"))
	return nil
}
