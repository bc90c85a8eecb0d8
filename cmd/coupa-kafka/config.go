package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// CoupaFlags select the instance and what to read from it.
type CoupaFlags struct {
	Config       string        `name:"config" env:"COUPA_CONFIG" type:"path" help:"YAML file listing several Coupa instances (name, url, client_id, client_secret_env or client_secret_file, tables, topic_prefix, rate_limit; see README), instead of COUPA_INSTANCE_URL, COUPA_CLIENT_ID and COUPA_CLIENT_SECRET. The other settings apply to every instance." group:"Coupa"`
	InstanceURL  string        `name:"instance-url" env:"COUPA_INSTANCE_URL" help:"Coupa instance, HTTPS only (a bare host means https://host)." group:"Coupa"`
	ClientID     string        `name:"client-id" env:"COUPA_CLIENT_ID" help:"OAuth2/OIDC client id (client credentials grant)." group:"Coupa"`
	ClientSecret string        `name:"client-secret" env:"COUPA_CLIENT_SECRET" help:"OAuth2/OIDC client secret (never logged). Prefer the environment variable." group:"Coupa"`
	Tables       []string      `name:"tables" env:"COUPA_TABLES" default:"${tables}" help:"Tables to sync (comma list), or all: every table of the catalog ('coupa-kafka tables' lists it) whose scope the client has." group:"Coupa"`
	RateLimit    float64       `name:"rate-limit" env:"COUPA_RATE_LIMIT" default:"15" help:"Request budget per second for all tables together (Coupa allows 25 per instance, shared with other integrations)." group:"Coupa"`
	Lookback     time.Duration `name:"lookback" env:"COUPA_LOOKBACK" default:"${default_lookback}" help:"Recent window each pass re-reads to catch late-visible writes; versions already published are skipped." group:"Coupa"`
	Parallelism  int           `name:"parallelism" env:"COUPA_PARALLELISM" default:"${default_parallelism}" help:"Time slices of one table's backfill read at once (each keeps one request in flight; all share the rate limit)." group:"Coupa"`
	DeleteSweep  time.Duration `name:"delete-sweep-interval" env:"COUPA_DELETE_SWEEP_INTERVAL" default:"${default_delete_sweep}" help:"How long after a table's last delete sweep the next is due: it lists the table's ids (50 per request, on budget the passes leave idle) and tombstones records Coupa no longer has, once a direct read answers 404. 0 turns sweeps off." group:"Coupa"`
}

// KafkaFlags connect to Kafka and the schema registry.
type KafkaFlags struct {
	Brokers           []string `name:"brokers" env:"KAFKA_BROKERS" help:"Bootstrap brokers (comma list)." group:"Kafka"`
	TopicPrefix       string   `name:"topic-prefix" env:"COUPA_TOPIC_PREFIX" default:"coupa." help:"Topic name prefix: the invoices topic is <prefix>invoices." group:"Kafka"`
	OffsetsTopic      string   `name:"offsets-topic" env:"COUPA_OFFSETS_TOPIC" default:"coupa-offsets" help:"Compacted topic holding the cursors." group:"Kafka"`
	LineTopics        bool     `name:"line-topics" env:"COUPA_LINE_TOPICS" default:"true" negatable:"" help:"Also publish the lines of invoices, purchase orders, requisitions and expense reports to their own topics (<prefix>invoice_lines, ...), in their parents' transactions." group:"Kafka"`
	Partitions        int32    `name:"partitions" env:"KAFKA_TOPIC_PARTITIONS" default:"-1" help:"Partitions of table topics created by coupa-kafka (-1: broker default)." group:"Kafka"`
	ReplicationFactor int16    `name:"replication-factor" env:"KAFKA_TOPIC_REPLICATION_FACTOR" default:"-1" help:"Replication factor of created topics (-1: broker default)." group:"Kafka"`
	TLS               bool     `name:"kafka-tls" env:"KAFKA_TLS" help:"Connect to the brokers with TLS." group:"Kafka"`
	TLSCAFile         string   `name:"kafka-tls-ca-file" env:"KAFKA_TLS_CA_FILE" help:"CA bundle for the brokers' certificates (default: system roots)." group:"Kafka"`
	TLSCertFile       string   `name:"kafka-tls-cert-file" env:"KAFKA_TLS_CERT_FILE" help:"Client certificate for mutual TLS." group:"Kafka"`
	TLSKeyFile        string   `name:"kafka-tls-key-file" env:"KAFKA_TLS_KEY_FILE" help:"Client key for mutual TLS." group:"Kafka"`
	SASLMechanism     string   `name:"kafka-sasl-mechanism" env:"KAFKA_SASL_MECHANISM" default:"" help:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case)." group:"Kafka"`
	SASLUsername      string   `name:"kafka-sasl-username" env:"KAFKA_SASL_USERNAME" help:"SASL user." group:"Kafka"`
	SASLPassword      string   `name:"kafka-sasl-password" env:"KAFKA_SASL_PASSWORD" help:"SASL password (never logged)." group:"Kafka"`

	RegistryURL      string `name:"schema-registry-url" env:"SCHEMA_REGISTRY_URL" help:"Confluent-compatible schema registry." group:"Schema registry"`
	StaticSchemas    bool   `name:"static-schemas" env:"COUPA_STATIC_SCHEMAS" help:"Never register a new schema version: custom fields and keys a newer Coupa release adds wait untyped in custom_fields and extra (coupa_kafka_untyped_values_total counts them). For registries whose policy forbids automatic registration. By default each table's schema learns them as typed fields, registering BACKWARD_TRANSITIVE-compatible versions." group:"Schema registry"`
	RegistryUsername string `name:"schema-registry-username" env:"SCHEMA_REGISTRY_USERNAME" help:"Registry basic-auth user." group:"Schema registry"`
	RegistryPassword string `name:"schema-registry-password" env:"SCHEMA_REGISTRY_PASSWORD" help:"Registry basic-auth password (never logged)." group:"Schema registry"`
}

// LogFlags shape the logs.
type LogFlags struct {
	LogLevel  string `name:"log-level" env:"COUPA_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Log level: debug, info, warn, error." group:"Logging"`
	LogFormat string `name:"log-format" env:"COUPA_LOG_FORMAT" enum:"json,text" default:"json" help:"Log format: json or text." group:"Logging"`
}

// Flags are the settings shared by run, sync and cursors.
type Flags struct {
	CoupaFlags     `embed:""`
	RedactionFlags `embed:""`
	KafkaFlags     `embed:""`
	LogFlags       `embed:""`
}

// validate reports every configuration problem at once, extra (a command's
// own settings) included, so a user fixes them in one round rather than one
// per start.
func (f *Flags) validate(needCoupa bool, extra ...error) error {
	errs := append([]error(nil), extra...)
	switch {
	case needCoupa && f.Config != "":
		errs = append(errs, f.validateInstances()...)
		errs = append(errs, f.validateSharedCoupa()...)
	case needCoupa:
		if _, err := coupa.ParseInstanceURL(f.InstanceURL); err != nil {
			errs = append(errs, err)
		}
		if f.ClientID == "" {
			errs = append(errs, errors.New("COUPA_CLIENT_ID (--client-id) is required"))
		}
		if f.ClientSecret == "" {
			errs = append(errs, errors.New("COUPA_CLIENT_SECRET (--client-secret) is required"))
		}
		if _, err := f.tables(); err != nil {
			errs = append(errs, err)
		}
		if f.RateLimit <= 0 || f.RateLimit > 25 {
			errs = append(errs, fmt.Errorf("COUPA_RATE_LIMIT %g is outside (0, 25]: Coupa allows 25 requests per second per instance", f.RateLimit))
		}
		errs = append(errs, f.validateSharedCoupa()...)
	}
	if len(f.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS (--brokers) is required"))
	}
	if needCoupa && f.RegistryURL == "" {
		errs = append(errs, errors.New("SCHEMA_REGISTRY_URL (--schema-registry-url) is required"))
	}
	if f.OffsetsTopic == "" {
		errs = append(errs, errors.New("COUPA_OFFSETS_TOPIC must not be empty"))
	}
	if (f.TLSCertFile == "") != (f.TLSKeyFile == "") {
		errs = append(errs, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together"))
	}
	if (f.TLSCAFile != "" || f.TLSCertFile != "") && !f.TLS {
		errs = append(errs, errors.New("KAFKA_TLS_CA_FILE/KAFKA_TLS_CERT_FILE are set but KAFKA_TLS is not true"))
	}
	f.SASLMechanism = strings.ToUpper(strings.TrimSpace(f.SASLMechanism))
	switch f.SASLMechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.SASLMechanism))
	}
	if f.SASLMechanism != "" && (f.SASLUsername == "" || f.SASLPassword == "") {
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM %s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", f.SASLMechanism))
	}
	if f.SASLMechanism == "" && (f.SASLUsername != "" || f.SASLPassword != "") {
		errs = append(errs, errors.New("KAFKA_SASL_USERNAME/PASSWORD are set but KAFKA_SASL_MECHANISM is not"))
	}
	if (f.RegistryUsername == "") != (f.RegistryPassword == "") {
		errs = append(errs, errors.New("SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD go together"))
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	problems := "problems"
	if len(errs) == 1 {
		problems = "problem"
	}
	return fmt.Errorf("configuration (%d %s): %s", len(errs), problems, strings.Join(msgs, "; "))
}

// tables resolves COUPA_TABLES: "all" is the whole catalog, otherwise the
// named tables, in catalog order.
func (f *Flags) tables() ([]coupa.Table, error) {
	if f.allTables() {
		return coupa.Catalog, nil
	}
	want := map[string]bool{}
	var unknown []string
	for _, n := range f.Tables {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, err := coupa.LookupTable(n); err != nil {
			unknown = append(unknown, err.Error())
		}
		want[n] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("COUPA_TABLES: %s; 'all' selects the whole catalog", strings.Join(unknown, "; "))
	}
	var out []coupa.Table
	for _, t := range coupa.Catalog {
		if want[t.Name] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("COUPA_TABLES selects no table")
	}
	return out, nil
}

// allTables reports whether COUPA_TABLES is "all": every catalog table, and
// those whose scope the client lacks are skipped rather than refused.
func (f *Flags) allTables() bool {
	return len(f.Tables) == 1 && strings.EqualFold(strings.TrimSpace(f.Tables[0]), "all")
}

func tableNames() string { return coupa.TableNames() }

func (l LogFlags) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(l.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if l.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// oneLine flattens an error for the one-line reason on stderr that the
// contract promises (joined errors become "; "-separated).
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
