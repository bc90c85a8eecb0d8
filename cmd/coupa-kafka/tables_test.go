package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestREADMEListsTheCatalog: the README's catalog is what the code syncs.
func TestREADMEListsTheCatalog(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "TestREADMEListsTheCatalog keeps it in step -->\n")
	got, _, ok2 := strings.Cut(rest, "<!-- end of catalog -->")
	if !ok || !ok2 {
		t.Fatal("README has no catalog section between its markers")
	}
	if want := catalogMarkdown(); got != want {
		t.Errorf("README's catalog is stale: replace it with the output of `go run ./cmd/coupa-kafka tables --markdown`")
	}
	if n := strings.Count(got, "\n| `"); n != len(coupa.Catalog) {
		t.Errorf("README lists %d tables, the catalog has %d", n, len(coupa.Catalog))
	}
}

// limitedClient is a client granted only a few scopes.
var limitedClient = coupatest.Client{ID: "limited", Secret: "limited-secret-7781", Scopes: []string{"core.user.read", "core.common.read"}}

// TestTablesShowsGrantedScopes: `tables` with credentials says which scopes
// the client has, by asking the instance.
func TestTablesShowsGrantedScopes(t *testing.T) {
	sim := coupatest.NewTLS(t, coupatest.Config{Seed: 2, Records: map[string]int{"users": 3}, Clients: []coupatest.Client{limitedClient}})
	var out bytes.Buffer
	cmd := &TablesCmd{InstanceURL: sim.URL(), ClientID: limitedClient.ID, ClientSecret: limitedClient.Secret, TopicPrefix: "coupa.",
		out: &out, httpClient: sim.HTTPClient()}
	if err := cmd.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	if len(rows) != len(coupa.Catalog) {
		t.Fatalf("%d rows for %d tables:\n%s", len(rows), len(coupa.Catalog), out.String())
	}
	for table, want := range map[string]string{"users": "yes", "exchange_rates": "yes", "currencies": "yes", "invoices": "no", "payables_invoices": "no"} {
		if r := rows[table]; r[len(r)-1] != want {
			t.Errorf("%s: granted %q, want %s", table, r[len(r)-1], want)
		}
	}
	if r := rows["currencies"]; r[1] != "coupa.currencies" || !strings.Contains(strings.Join(r, " "), "full refresh") {
		t.Errorf("currencies row: %v", r)
	}
	if strings.Contains(out.String(), limitedClient.Secret) {
		t.Error("the secret is in the output")
	}
}

// TestScopesUnderAllAndNamed: COUPA_TABLES=all skips the tables whose scope
// the client lacks (reported in the table_skipped gauge) and syncs the rest;
// naming such a table refuses to start, with the scope to grant.
func TestScopesUnderAllAndNamed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, flags := localWorldWith(t, coupatest.Config{Seed: 5, Clients: []coupatest.Client{limitedClient},
		Records: map[string]int{"users": 12, "currencies": 4, "exchange_rates": 7, "invoices": 5}})
	flags.ClientID, flags.ClientSecret = limitedClient.ID, limitedClient.Secret
	flags.Tables = []string{"all"}
	a, err := open(ctx, &flags, wiring{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.prod.Close()
	skipped := map[string]bool{}
	for _, tb := range a.skipped {
		skipped[tb.Name] = true
	}
	if !skipped["invoices"] || skipped["users"] || skipped["currencies"] {
		t.Errorf("skipped %s", skippedText(a.skipped))
	}
	n, err := testutil.GatherAndCount(a.metrics.Registry, "coupa_kafka_table_skipped")
	if err != nil || n != len(a.skipped) {
		t.Errorf("table_skipped has %d series for %d skipped tables (%v)", n, len(a.skipped), err)
	}
	results, err := a.prod.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]int{}
	for _, r := range results {
		published[r.Table] = r.Published
	}
	if published["users"] != 12 || published["currencies"] != 4 || published["exchange_rates"] != 7 {
		t.Errorf("published %v", published)
	}
	if _, ok := published["invoices"]; ok {
		t.Error("a skipped table was synced")
	}

	flags.Tables = []string{"users", "invoices"}
	_, err = open(ctx, &flags, wiring{})
	if err == nil || !strings.Contains(err.Error(), "core.invoice.read (for invoices)") || !strings.Contains(err.Error(), "grant") {
		t.Errorf("naming a table without its scope: %v", err)
	}
}

func TestPollIntervals(t *testing.T) {
	got, err := parsePollIntervals(" exchange_rates=1h, lookup_values=15m ,")
	if err != nil || got["exchange_rates"] != time.Hour || got["lookup_values"] != 15*time.Minute || len(got) != 2 {
		t.Errorf("%v, %v", got, err)
	}
	_, err = parsePollIntervals("nope=1h,users=-1s,invoices")
	for _, want := range []string{`unknown table "nope"`, "users=-1s", `"invoices" is not table=duration`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %s", err, want)
		}
	}
}
