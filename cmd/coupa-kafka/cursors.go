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

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/group"
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
	Group      string `name:"group" env:"COUPA_GROUP" help:"Consumer group of the run processes, whose members are listed with the instances each syncs. Default: coupa-kafka.<offsets topic>."`

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
	run := RunCmd{Group: c.Group}
	run.OffsetsTopic = c.OffsetsTopic
	d, err := group.Describe(ctx, opts, run.groupID(), c.OffsetsTopic+".instance.")
	printOwners(out, d, err)
	return nil
}

// printOwners says which run process syncs which instance.
func printOwners(w io.Writer, d group.Described, err error) {
	switch {
	case err != nil:
		fmt.Fprintf(w, "\nwho syncs what: unknown (%v)\n", err)
		return
	case len(d.Members) == 0:
		fmt.Fprintf(w, "\nno run process is in the group %s\n", d.Group)
		return
	}
	fmt.Fprintf(w, "\ngroup %s (%s), %d members:\n", d.Group, d.State, len(d.Members))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tHOST\tSYNCS")
	for _, m := range d.Members {
		owns := strings.Join(m.Owns, ", ")
		if owns == "" {
			owns = "nothing (standby)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.MemberID, m.Host, owns)
	}
	tw.Flush()
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
		c, table := cursors[k], k.Table
		if k.Kind == offsets.ResetKind {
			if !cursors[k.Cursor()].Pending(c) {
				continue // adopted: the cursor row says where the table is
			}
			table += " (reset requested, not adopted yet)"
		}
		age := "-"
		if !c.CommittedAt.IsZero() {
			age = now.Sub(c.CommittedAt).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", k.Instance, table, c.String(), c.Mode, c.Published, c.Seq, age)
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
	Execute     bool    `name:"execute" help:"Request the reset: the table's producer adopts it at its next pass (a running one without a restart). Without it, only the plan is printed."`
}

// Run prints the plan and, with --execute, writes a reset request. The
// table's producer adopts it at the start of its next pass: a running
// `coupa-kafka run` within one poll interval, without a restart and without
// being fenced; a stopped one when it starts.
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
	to := offsets.Cursor{Mode: offsets.Incremental}
	if !c.ToEarliest {
		to.UpdatedAt = c.ToDatetime.UTC().Truncate(time.Second)
	}
	if c.FullRefresh {
		to.Mode = offsets.FullRefresh
	}
	fmt.Printf("%s/%s: cursor %s (%s) -> %s (%s)\n", key.Instance, key.Table, old.String(), orDash(string(old.Mode)), to.String(), to.Mode)
	if r, ok := cursors[key.ResetRequest()]; ok && old.Pending(r) {
		fmt.Printf("replaces the reset to %s (%s) requested at %s, not adopted yet\n", r.String(), r.Mode, r.CommittedAt.Format(time.RFC3339))
	}
	if !c.Execute {
		fmt.Println("dry run: nothing written; add --execute to write it")
		return nil
	}
	if _, err := offsets.RequestReset(ctx, c.OffsetsTopic, key, to, opts...); err != nil {
		return err
	}
	fmt.Println("requested: the producer of this table adopts it at the start of its next pass (a running `coupa-kafka run` within one poll interval, and logs \"adopted a cursor reset\"; otherwise when it next starts). `coupa-kafka cursors list` shows it pending until then.")
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
