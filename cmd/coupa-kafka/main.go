// Command coupa-kafka copies Coupa spend data into Kafka. See `coupa-kafka
// --help` and the README; this package is wiring only: the work happens in
// the coupa, schemas, offsets and producer packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// CLI is the whole command line; every flag also reads the environment
// variable named in its env tag (the contract in DESIGN.md).
type CLI struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Run     RunCmd     `cmd:"" help:"Sync every selected table, then poll again every --poll-interval; serve /metrics, /healthz and /readyz."`
	Sync    SyncCmd    `cmd:"" help:"One pass: bring every selected table up to date with the instance as of now, then exit."`
	Demo    DemoCmd    `cmd:"" help:"No setup: an embedded Kafka, schema registry and simulated Coupa instance, a full sync, and a summary."`
	Cursors CursorsCmd `cmd:"" help:"Show or change stored cursors."`
}

func main() {
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.Name("coupa-kafka"),
		kong.Description("Copy Coupa spend data (invoices, purchase orders, requisitions, suppliers, contracts, expense reports, users, approvals) into log-compacted Kafka topics as Avro, exactly once."),
		kong.UsageOnError(),
		kong.Vars{"version": version, "tables": tableNames()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	err := kctx.Run()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "coupa-kafka:", oneLine(err))
		os.Exit(1)
	}
}
