package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// TablesCmd is `coupa-kafka tables`: the catalog, and with credentials,
// which of its scopes the client has.
type TablesCmd struct {
	InstanceURL  string `name:"instance-url" env:"COUPA_INSTANCE_URL" help:"Coupa instance: with the client's credentials, also show whether it has each table's scope."`
	ClientID     string `name:"client-id" env:"COUPA_CLIENT_ID" help:"OAuth2/OIDC client id."`
	ClientSecret string `name:"client-secret" env:"COUPA_CLIENT_SECRET" help:"OAuth2/OIDC client secret (never logged)."`
	TopicPrefix  string `name:"topic-prefix" env:"COUPA_TOPIC_PREFIX" default:"coupa." help:"Topic name prefix."`
	Markdown     bool   `name:"markdown" help:"Print the catalog as the README's Markdown table."`

	out        io.Writer    // stdout unless a test sets it
	httpClient *http.Client // nil: the system trust store (tests: the simulator's)
}

// Run prints the catalog.
func (c *TablesCmd) Run(ctx context.Context) error {
	out := c.out
	if out == nil {
		out = os.Stdout
	}
	if c.Markdown {
		_, err := io.WriteString(out, catalogMarkdown())
		return err
	}
	granted, err := c.granted(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	head := "TABLE\tTOPIC\tSCOPE\tMODE\tPOLL"
	if granted != nil {
		head += "\tGRANTED"
	}
	fmt.Fprintln(w, head)
	for _, t := range coupa.Catalog {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", t.Name, c.TopicPrefix+t.Name, t.Scope, t.Mode, pollText(t))
		if granted != nil {
			line += "\t" + yesNo(granted[t.Scope])
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}

// granted asks the instance which scopes the client has, when credentials
// are given; nil without them.
func (c *TablesCmd) granted(ctx context.Context) (map[string]bool, error) {
	if c.InstanceURL == "" && c.ClientID == "" && c.ClientSecret == "" {
		return nil, nil
	}
	if c.InstanceURL == "" || c.ClientID == "" || c.ClientSecret == "" {
		return nil, fmt.Errorf("to check scopes, give COUPA_INSTANCE_URL, COUPA_CLIENT_ID and COUPA_CLIENT_SECRET together")
	}
	client, err := coupa.New(coupa.Config{InstanceURL: c.InstanceURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, HTTPClient: c.httpClient})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return client.Granted(ctx, coupa.Catalog)
}

// pollText is a table's default polling: its longest pause, or for a full
// refresh the time between refreshes.
func pollText(t coupa.Table) string {
	d := t.DefaultPollInterval()
	if t.Mode == coupa.FullRefresh {
		return "every " + shortDuration(d)
	}
	return "up to " + shortDuration(d)
}

// shortDuration writes 15m rather than 15m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// catalogMarkdown is the catalog as a Markdown table: the README's
// "Tables" section is this text (TestREADMEListsTheCatalog keeps them equal).
func catalogMarkdown() string {
	var b strings.Builder
	b.WriteString("| Table | Coupa resource | Scope | Mode | Default poll |\n|---|---|---|---|---|\n")
	for _, t := range coupa.Catalog {
		name := "`" + t.Name + "`"
		if t.LineTopic != "" {
			name += " (lines: `" + t.LineTopic + "`)"
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s | %s |\n", name, t.Path, t.Scope, t.Mode, pollText(t))
	}
	return b.String()
}
