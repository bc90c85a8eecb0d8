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
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/group"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3". A
// plain `go build` leaves "dev", and --version adds the commit Go embedded
// (see versionString).
var version = "dev"

// versionString is version, and for an unstamped build the VCS commit that
// Go records in the binary (vcs.revision, vcs.modified), so that a binary
// built from a checkout says what it was built from.
func versionString(settings []debug.BuildSetting) string {
	if version != "dev" {
		return version
	}
	var rev, dirty string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev == "" {
		return version
	}
	return fmt.Sprintf("%s (commit %.12s%s)", version, rev, dirty)
}

func buildSettings() []debug.BuildSetting {
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.Settings
	}
	return nil
}

// kongVars are the values the flags' defaults and help refer to: the
// producer's defaults, defined there once.
func kongVars() kong.Vars {
	return kong.Vars{
		"version":                 versionString(buildSettings()),
		"tables":                  tableNames(),
		"default_lookback":        producer.DefaultLookback.String(),
		"default_delete_sweep":    producer.DefaultDeleteSweepInterval.String(),
		"default_parallelism":     strconv.Itoa(producer.DefaultParallelism),
		"default_poll_min":        producer.DefaultPollMin.String(),
		"default_poll_max":        producer.DefaultPollMax.String(),
		"default_poll_budget":     strconv.FormatFloat(producer.DefaultPollBudget, 'f', -1, 64),
		"reference_poll":          coupa.ReferencePollInterval.String(),
		"full_refresh_poll":       coupa.FullRefreshPollInterval.String(),
		"default_session_timeout": group.DefaultSessionTimeout.String(),
	}
}

// CLI is the whole command line; every flag also reads the environment
// variable named in its env tag (README's configuration table).
type CLI struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Run     RunCmd     `cmd:"" help:"Sync every selected table, then poll again every --poll-interval; serve /metrics, /healthz and /readyz."`
	Sync    SyncCmd    `cmd:"" help:"One pass: bring every selected table up to date with the instance as of now, then exit."`
	Demo    DemoCmd    `cmd:"" help:"No setup: an embedded Kafka, schema registry and simulated Coupa instance, a full sync, and a summary."`
	Cursors CursorsCmd `cmd:"" help:"Show or change stored cursors."`
	Status  StatusCmd  `cmd:"" help:"One line per table: cursor, lag, last pass, stopped or failing (from Kafka and a running 'run')."`
	Tables  TablesCmd  `cmd:"" help:"List the catalog: every table, its topic, scope, mode and default polling; with credentials, whether the client has each scope."`
}

func main() {
	var cli CLI
	kctx, err := parse(&cli, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "coupa-kafka:", oneLine(err))
		fmt.Fprintln(os.Stderr, "coupa-kafka: see 'coupa-kafka --help', or '<command> --help', for the flags and their environment variables")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "coupa-kafka:", oneLine(err))
		os.Exit(1)
	}
}

// parse reads the command line and the environment. A bad flag and a bad
// environment variable are the same kind of mistake: both come back as an
// error (main prints one line and exits 1, like a configuration error found
// later), never as pages of usage.
func parse(cli *CLI, args []string, opts ...kong.Option) (*kong.Context, error) {
	parser, err := kong.New(cli, append([]kong.Option{
		kong.Name("coupa-kafka"),
		kong.Description("Copy Coupa spend data (invoices, purchase orders, requisitions, suppliers, contracts, expense reports, users, approvals) into log-compacted Kafka topics as Avro, exactly once."),
		kongVars(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	return parser.Parse(args)
}
