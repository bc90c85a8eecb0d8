package coupatest

import (
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Client is an OAuth client registered on the simulated instance.
type Client struct {
	ID     string
	Secret string
	// Scopes are the scopes an admin granted the client, e.g.
	// "core.invoice.read". A token never carries more.
	Scopes []string
}

// Config shapes a simulated instance. The zero value is a usable instance:
// DefaultRecords records in every table of coupa.Catalog, one client
// (DefaultClientID / DefaultClientSecret) granted every table's scope, UTC
// offset +00:00.
type Config struct {
	// Seed makes the data: the same Seed and Epoch render the same bytes.
	Seed int64
	// Records is the initial number of records per table name
	// ("invoices", any table of coupa.Catalog). Nil means DefaultRecords
	// for every catalog table; a table missing from a non-nil map starts
	// empty.
	Records map[string]int
	// Epoch is the end of the generated history; initial created_at and
	// updated_at lie in the History before it. Zero: the simulator's now,
	// truncated to the hour (set it for byte-identical data across runs).
	Epoch time.Time
	// History is how far back the initial data reaches. Zero: 365 days.
	History time.Duration
	// TieSize is the number of records that share one updated_at second in
	// TieTable, more than a page so ">= cursor" paging on the timestamp
	// alone loops. Zero: 60. Negative: no such tie.
	TieSize  int
	TieTable string // zero: "invoices"
	// MaxLines bounds the lines per record (1..MaxLines). Zero: 8; at most 99.
	MaxLines int
	// Lines, when positive, gives every record with lines exactly that many
	// (at most MaxLines) instead of 1..MaxLines, mostly short: benchmarks
	// size documents with it.
	Lines int
	// UTCOffset is the instance's zone offset used in every datetime it
	// renders. Zero means UTC ("+00:00"); DefaultConfig uses -7h.
	UTCOffset time.Duration
	// Clients are the registered OAuth clients. Nil: one default client
	// granted AllScopes.
	Clients []Client
	// NoObjectScopes makes the instance refuse every scope parameter with
	// invalid_scope, as instances without per-object scopes do; a token
	// requested without scope carries the client's granted scopes.
	NoObjectScopes bool
	// TokenTTL is the lifetime of access tokens. Zero: 86399 s, as Coupa.
	TokenTTL time.Duration
	// Adversarial turns on the legal-but-inconvenient behaviours: ties of
	// updated_at are returned in a random order on every request.
	Adversarial bool
	// Deletes makes the instance lose things as real ones do: Churn also
	// deletes records now and then (Deleted lists them), and a record's
	// new version may drop its last line (a removed line id never comes
	// back). Off, nothing is ever removed except by Delete: suites that
	// do not check tombstones keep their truth.
	Deletes bool
	// LineChanges makes lines change on their own, as receiving goods
	// against a purchase order line does: Churn also calls ChangeLines now
	// and then on a record of a churned table with a line list resource
	// (purchase_orders, expense_reports), so only the line list shows the
	// change by updated_at. Off, lines change only with their record:
	// suites that do not read line lists keep their truth.
	LineChanges bool
	// ChurnCustomFields is how many custom fields Churn adds to the
	// headers of the tables it churns, as an admin does on a live
	// instance (AddCustomField): the first after 8 to 15 steps (by Seed),
	// then one every 16 steps, each a new key of the next kind in turn.
	// Zero: 1. Negative: none, for suites whose truth must keep its keys.
	ChurnCustomFields int
	// RateLimit is the leaky bucket's drain rate (requests per second) and
	// Burst its capacity. Zero: 25 and 20, Coupa's documented limit. The
	// limit only applies once switched on with Faults().RateLimit(true).
	RateLimit float64
	Burst     int
	// Addr is the loopback address to listen on ("127.0.0.1:8443").
	// Empty: a free port on 127.0.0.1. Another loopback IP ("127.0.0.3:0")
	// gives the instance a host of its own, with a self-signed certificate
	// for that IP that HTTPClient, CertPool and CACertPEM trust.
	Addr string
}

// Defaults of Config.
const (
	DefaultRecords      = 200
	DefaultClientID     = "coupatest-client"
	DefaultClientSecret = "coupatest-secret"
	DefaultTokenTTL     = 86399 * time.Second
)

// DefaultConfig is a realistic instance for demos: seed 1, offset -07:00.
func DefaultConfig() Config {
	return Config{Seed: 1, UTCOffset: -7 * time.Hour}
}

// AllScopes returns the distinct scopes of every table of coupa.Catalog, in
// catalog order (the eight documents' scopes first): what the default
// client is granted.
func AllScopes() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range coupa.Catalog {
		if !seen[t.Scope] {
			seen[t.Scope] = true
			out = append(out, t.Scope)
		}
	}
	return out
}

func (c Config) withDefaults(now time.Time) Config {
	if c.Records == nil {
		c.Records = map[string]int{}
		for _, t := range coupa.Catalog {
			c.Records[t.Name] = DefaultRecords
		}
	}
	if c.Epoch.IsZero() {
		c.Epoch = now.Truncate(time.Hour)
	}
	if c.History <= 0 {
		c.History = 365 * 24 * time.Hour
	}
	if c.TieSize == 0 {
		c.TieSize = 60
	}
	if c.TieTable == "" {
		c.TieTable = "invoices"
	}
	if c.MaxLines <= 0 {
		c.MaxLines = 8
	}
	if c.MaxLines > 99 {
		c.MaxLines = 99
	}
	if c.Lines > c.MaxLines {
		c.MaxLines = min(c.Lines, 99)
		c.Lines = c.MaxLines
	}
	if c.Clients == nil {
		c.Clients = []Client{{ID: DefaultClientID, Secret: DefaultClientSecret, Scopes: AllScopes()}}
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.ChurnCustomFields == 0 {
		c.ChurnCustomFields = 1
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 25
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	return c
}
