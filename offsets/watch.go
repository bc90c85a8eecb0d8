package offsets

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WatchResets reads the offsets topic from its start and then follows it
// with read_committed, calling fn for every reset request (see
// Key.ResetRequest) in the order they were written, until ctx ends. A
// running producer uses it to adopt a `cursors reset` without a restart;
// requests it has adopted already are recognised by Cursor.Pending.
//
// Records it cannot parse are skipped here: they are not reset requests of
// this build, and Load, which every start-up runs, refuses them loudly.
// Fetch errors are retried by the client; WatchResets returns only when ctx
// ends (nil) or the client cannot be made.
func WatchResets(ctx context.Context, topic string, fn func(Key, Cursor), opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			k, err := ParseKey(r.Key)
			if err != nil || k.Kind != ResetKind || r.Value == nil {
				return
			}
			var c Cursor
			if c.UnmarshalJSON(r.Value) == nil {
				fn(k, c)
			}
		})
	}
	return nil
}
