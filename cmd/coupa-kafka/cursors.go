package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// CursorsCmd is `coupa-kafka cursors`.
type CursorsCmd struct {
	List  CursorsListCmd  `cmd:"" help:"Show every stored cursor and its age."`
	Reset CursorsResetCmd `cmd:"" help:"Move a table's cursor to --to-datetime D | --to-earliest (a dry run unless --execute)."`
}

// CursorsListCmd is `coupa-kafka cursors list`.
type CursorsListCmd struct {
	KafkaFlags `embed:""`
	LogFlags   `embed:""`

	out io.Writer // stdout unless a test sets it
}

// Run prints the cursors of every instance and table in the offsets topic.
func (c *CursorsListCmd) Run(ctx context.Context) error {
	f := Flags{KafkaFlags: c.KafkaFlags, LogFlags: c.LogFlags}
	if err := f.validate(false); err != nil {
		return err
	}
	opts, err := c.kafkaOpts(f.logger())
	if err != nil {
		return err
	}
	out := c.out
	if out == nil {
		out = os.Stdout
	}
	cursors, err := offsets.Load(ctx, c.OffsetsTopic, opts...)
	if errors.Is(err, offsets.ErrNoOffsetsTopic) {
		fmt.Fprintf(out, "no cursors yet: the offsets topic %s does not exist (the first sync creates it)\n", c.OffsetsTopic)
		return nil
	}
	if err != nil {
		return err
	}
	printCursors(out, cursors, time.Now())
	return nil
}

func printCursors(w io.Writer, cursors map[offsets.Key]offsets.Cursor, now time.Time) {
	keys := make([]offsets.Key, 0, len(cursors))
	for k := range cursors {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, offsets.Key.Compare)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tTABLE\tCURSOR (updated_at, id)\tMODE\tPUBLISHED\tCOMMITS\tCOMMITTED")
	for _, k := range keys {
		c := cursors[k]
		age := "-"
		if !c.CommittedAt.IsZero() {
			age = now.Sub(c.CommittedAt).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", k.Instance, k.Table, c.String(), c.Mode, c.Published, c.Seq, age)
	}
	tw.Flush()
	if len(keys) == 0 {
		fmt.Fprintln(w, "(no cursors yet)")
	}
}

// CursorsResetCmd is `coupa-kafka cursors reset`.
type CursorsResetCmd struct {
	KafkaFlags  `embed:""`
	LogFlags    `embed:""`
	InstanceURL string  `name:"instance-url" env:"COUPA_INSTANCE_URL" help:"Coupa instance whose cursor to move." group:"Coupa"`
	Table       string  `name:"table" required:"" help:"Table whose cursor to move."`
	ToDatetime  instant `name:"to-datetime" placeholder:"2025-01-01|RFC3339" help:"Move the cursor to this instant (a date, midnight UTC, or RFC 3339): the next pass re-reads from there and publishes what the topic lacks." xor:"to"`
	ToEarliest  bool    `name:"to-earliest" help:"Move the cursor before every record: the next pass re-reads the whole table and republishes it." xor:"to"`
	FullRefresh bool    `name:"full-refresh" help:"Republish every record from the new position, not only what the topic lacks."`
	Execute     bool    `name:"execute" help:"Write the new cursor. Without it, only the plan is printed."`
}

// Run prints the plan and, with --execute, writes the new cursor with the
// table's transactional id. That fences any producer still holding the table
// (it stops with a clear error instead of overwriting the reset); a producer
// in the middle of a transaction makes the reset refuse instead.
func (c *CursorsResetCmd) Run(ctx context.Context) error {
	f := Flags{KafkaFlags: c.KafkaFlags, LogFlags: c.LogFlags}
	if err := f.validate(false); err != nil {
		return err
	}
	base, err := coupa.ParseInstanceURL(c.InstanceURL)
	if err != nil {
		return err
	}
	if _, err := coupa.LookupTable(c.Table); err != nil {
		return err
	}
	opts, err := c.kafkaOpts(f.logger())
	if err != nil {
		return err
	}
	key := offsets.Key{Instance: base.Hostname(), Table: c.Table}
	cursors, err := offsets.LoadSettled(ctx, c.OffsetsTopic, opts...)
	if err != nil {
		return err
	}
	old := cursors[key]
	next := offsets.Cursor{Mode: offsets.Incremental, Published: old.Published, CommittedAt: time.Now().UTC(), Seq: old.Seq + 1}
	if !c.ToEarliest {
		next.UpdatedAt = c.ToDatetime.UTC().Truncate(time.Second)
	}
	if c.FullRefresh {
		next.Mode = offsets.FullRefresh
	}
	fmt.Printf("%s/%s: cursor %s (%s) -> %s (%s)\n", key.Instance, key.Table, old.String(), orDash(string(old.Mode)), next.String(), next.Mode)
	if !c.Execute {
		fmt.Println("dry run: nothing written; add --execute to write it")
		return nil
	}
	if err := refuseIfTransactionOpen(ctx, opts, key); err != nil {
		return err
	}
	if err := writeCursor(ctx, opts, c.OffsetsTopic, key, next); err != nil {
		return err
	}
	fmt.Println("written: a running producer of this table was fenced and has stopped it; restart it to continue from the new cursor")
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// refuseIfTransactionOpen refuses while the table's producer is inside a
// transaction: resetting under it would abort work it is committing.
func refuseIfTransactionOpen(ctx context.Context, opts []kgo.Opt, key offsets.Key) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	described, err := kadm.NewClient(cl).DescribeTransactions(ctx, key.TransactionalID())
	if err != nil {
		var missing *kadm.ShardErrors
		if errors.As(err, &missing) || strings.Contains(err.Error(), "TRANSACTIONAL_ID_NOT_FOUND") {
			return nil // never used: nobody holds it
		}
		return fmt.Errorf("describing transaction %s: %w", key.TransactionalID(), err)
	}
	for _, d := range described {
		if d.Err != nil {
			continue
		}
		switch d.State {
		case "Ongoing", "PrepareCommit", "PrepareAbort":
			return fmt.Errorf("a producer is syncing %s right now (transaction %s is %s): stop it first, then run the reset again", key.Table, d.TxnID, d.State)
		}
	}
	return nil
}

func writeCursor(ctx context.Context, opts []kgo.Opt, topic string, key offsets.Key, c offsets.Cursor) error {
	cl, err := kgo.NewClient(append(opts, kgo.TransactionalID(key.TransactionalID()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	rec, err := offsets.Record(topic, key, c)
	if err != nil {
		return err
	}
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		cl.EndTransaction(ctx, kgo.TryAbort)
		return fmt.Errorf("writing the cursor: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// The answer of a commit can be lost after Kafka acted on it.
		return fmt.Errorf("writing the cursor: its commit was not confirmed, so it may or may not have been written (run `coupa-kafka cursors list` to see): %w", err)
	}
	return nil
}

// Validate asks for one of the two alternatives (kong would show two
// required flags as if both were needed).
func (c *CursorsResetCmd) Validate() error {
	if c.ToDatetime.IsZero() && !c.ToEarliest {
		return errors.New("say where to move the cursor: --to-datetime D (a date or RFC 3339) or --to-earliest")
	}
	return nil
}

// instant is a command-line point in time: a date (2025-01-01, midnight
// UTC) or an RFC 3339 datetime (2025-01-01T12:00:00Z).
type instant struct{ time.Time }

// UnmarshalText implements encoding.TextUnmarshaler (kong uses it).
func (i *instant) UnmarshalText(b []byte) error {
	s := string(b)
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			i.Time = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("%q is neither a date (2025-01-01) nor an RFC 3339 datetime (2025-01-01T12:00:00Z)", s)
}
