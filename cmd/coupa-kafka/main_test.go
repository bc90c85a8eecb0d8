package main

import (
	"bytes"
	"context"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/offsets"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	f := Flags{
		CoupaFlags: CoupaFlags{InstanceURL: "http://acme.coupahost.com", Tables: []string{"invoices", "widgets"}, RateLimit: 40},
		KafkaFlags: KafkaFlags{OffsetsTopic: "o", SASLMechanism: "PLAIN", TLSCertFile: "c.pem"},
	}
	err := f.validate(true)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"only https", "COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET", `unknown table "widgets"`, "COUPA_RATE_LIMIT 40",
		"KAFKA_BROKERS", "SCHEMA_REGISTRY_URL", "KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE", "KAFKA_SASL_USERNAME",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the reason must fit on one line: %q", err)
	}
}

func TestSecretsNotInValidationErrors(t *testing.T) {
	f := Flags{
		CoupaFlags: CoupaFlags{InstanceURL: "https://acme.coupahost.com", ClientID: "id", ClientSecret: "s3cr3t-value", Tables: []string{"invoices"}, RateLimit: 15, Parallelism: 8},
		KafkaFlags: KafkaFlags{OffsetsTopic: "o", SASLMechanism: "PLAIN", SASLPassword: "kafka-pw-value", RegistryPassword: "reg-pw-value"},
	}
	err := f.validate(true)
	for _, secret := range []string{"s3cr3t-value", "kafka-pw-value", "reg-pw-value"} {
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("validation error shows a secret: %v", err)
		}
	}
}

// TestDemoRunsAndResumes runs the demo twice on one data dir: the second run
// resumes from the stored cursors and publishes only the new changes.
func TestDemoRunsAndResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var out bytes.Buffer
	demo := DemoCmd{DataDir: dir, Records: 30, Changes: 8, out: &out}
	first, err := demo.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range first {
		total += r.Published
	}
	if total < 8*30 {
		t.Fatalf("first demo published %d records, want all of 8 x 30 (and the changes)", total)
	}
	for _, want := range []string{"coupa.invoices", "A sample invoices record", `"id":`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	second, err := demo.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, r := range second {
		again += r.Published
	}
	if again == 0 || again > 8 {
		t.Errorf("second demo published %d records, want only the %d changes", again, 8)
	}
}

func TestCursorsResetIsADryRunUnlessExecuted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "coupa-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	kf := KafkaFlags{Brokers: cluster.ListenAddrs(), OffsetsTopic: "coupa-offsets"}
	logs := LogFlags{LogLevel: "error", LogFormat: "text"}
	reset := CursorsResetCmd{KafkaFlags: kf, LogFlags: logs, InstanceURL: "acme.coupahost.com", Table: "invoices",
		ToDatetime: instant{time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}
	if err := reset.Run(ctx); err != nil {
		t.Fatal(err)
	}
	opts, _ := kf.kafkaOpts(logs.logger())
	got, err := offsets.Load(ctx, "coupa-offsets", opts...)
	if err != nil || len(got) != 0 {
		t.Fatalf("dry run wrote %v (%v)", got, err)
	}
	reset.Execute, reset.FullRefresh = true, true
	if err := reset.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = offsets.Load(ctx, "coupa-offsets", opts...)
	key := offsets.Key{Instance: "acme.coupahost.com", Table: "invoices"}
	if c, ok := got[key]; ok {
		t.Errorf("--execute wrote the cursor itself (%+v): a running producer would be fenced or overwrite it", c)
	}
	r := got[key.ResetRequest()]
	if err != nil || !r.UpdatedAt.Equal(reset.ToDatetime.Time) || r.Mode != offsets.FullRefresh || r.CommittedAt.IsZero() {
		t.Fatalf("after --execute the request is %+v (%v)", r, err)
	}
	var buf bytes.Buffer
	printCursors(&buf, got, time.Now())
	if !strings.Contains(buf.String(), "acme.coupahost.com  invoices (reset requested, not adopted yet)  2025-01-02T03:04:05Z id 0  full_refresh") {
		t.Errorf("cursors list:\n%s", buf.String())
	}
	got[key] = offsets.Cursor{Adopted: r.CommittedAt}
	buf.Reset()
	printCursors(&buf, got, time.Now())
	if strings.Contains(buf.String(), "reset requested") {
		t.Errorf("cursors list shows an adopted request:\n%s", buf.String())
	}
}

// TestKafkaSASL connects to a SASL-enabled kfake with each mechanism, and
// refuses a wrong password.
func TestKafkaSASL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "coupa", "right-password"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			logs := LogFlags{LogLevel: "error", LogFormat: "text"}
			for pw, wantOK := range map[string]bool{"right-password": true, "wrong-password": false} {
				kf := KafkaFlags{Brokers: cluster.ListenAddrs(), SASLMechanism: mech, SASLUsername: "coupa", SASLPassword: pw}
				opts, err := kf.kafkaOpts(logs.logger())
				if err != nil {
					t.Fatal(err)
				}
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				err = pingKafka(pctx, opts)
				pcancel()
				if (err == nil) != wantOK {
					t.Errorf("password %s: ping error %v", pw, err)
				}
			}
		})
	}
}

// `demo --records=-5` used to panic in the simulator (makeslice); the CLI
// refuses it with a message naming the flag.
func TestDemoRefusesImpossibleSizes(t *testing.T) {
	_, parser := newParser(t)
	for args, want := range map[string]string{
		"demo --records=-5":      "--records -5",
		"demo --records=0":       "--records 0",
		"demo --changes=-1":      "--changes -1",
		"demo --records=2000000": "--records 2000000",
	} {
		_, err := parser.Parse(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", args, err, want)
		}
	}
	if _, err := parser.Parse([]string{"demo", "--records=30"}); err != nil {
		t.Errorf("demo --records=30: %v", err)
	}
}

// On a cluster where nothing ran yet, `cursors list` says so and exits 0.
func TestCursorsListOnAFreshCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var out bytes.Buffer
	list := CursorsListCmd{KafkaFlags: KafkaFlags{Brokers: cluster.ListenAddrs(), OffsetsTopic: "coupa-offsets"},
		LogFlags: LogFlags{LogLevel: "error", LogFormat: "json"}, out: &out}
	if err := list.Run(ctx); err != nil {
		t.Fatalf("cursors list on a fresh cluster: %v", err)
	}
	if !strings.Contains(out.String(), "no cursors yet") {
		t.Errorf("cursors list printed %q", out.String())
	}
}

func TestVersionNamesTheCommitOfAPlainBuild(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	if got := versionString(rev); got != "dev (commit 0123456789ab, modified)" {
		t.Errorf("plain build: %q", got)
	}
	if got := versionString(nil); got != "dev" {
		t.Errorf("no VCS information: %q", got)
	}
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	if got := versionString(rev); got != "v1.2.3" {
		t.Errorf("stamped build: %q", got)
	}
}

func TestSASLMechanismAnyCaseAndOneProblem(t *testing.T) {
	f := Flags{KafkaFlags: KafkaFlags{Brokers: []string{"b:9092"}, OffsetsTopic: "o", RegistryURL: "http://r",
		SASLMechanism: "scram-sha-512", SASLUsername: "u", SASLPassword: "p"}}
	if err := f.validate(false); err != nil || f.SASLMechanism != "SCRAM-SHA-512" {
		t.Errorf("lower-case mechanism: %v (%q)", err, f.SASLMechanism)
	}
	f.SASLMechanism = "gssapi"
	err := f.validate(false)
	if err == nil || !strings.Contains(err.Error(), "configuration (1 problem): KAFKA_SASL_MECHANISM \"GSSAPI\"") {
		t.Errorf("unknown mechanism: %v", err)
	}
}

// Redaction settings are checked with the rest of the configuration, each
// mistake named in the one message, and the hash key never shown.
func TestRedactionSettings(t *testing.T) {
	f := Flags{
		CoupaFlags: CoupaFlags{InstanceURL: "https://acme.coupahost.com", ClientID: "id", ClientSecret: "s", Tables: []string{"users", "suppliers"}, RateLimit: 15, Parallelism: 8},
		RedactionFlags: RedactionFlags{
			FieldExclude: []string{"users.email", "invoices.total", "nodot"},
			FieldMask:    []string{"suppliers.no_such_field"},
			FieldHash:    []string{"users.login"},
		},
		KafkaFlags: KafkaFlags{Brokers: []string{"b:9092"}, OffsetsTopic: "o", RegistryURL: "http://r"},
	}
	err := f.validate(true)
	for _, want := range []string{`"invoices.total" names a table that is not synced`, `"nodot" is not table.field`, `no field "no_such_field"`, "needs a key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	f.RedactionFlags = RedactionFlags{FieldExclude: []string{"users.email"}, FieldHash: []string{"suppliers.tax_id"}, FieldHashKey: "hash-key-0451"}
	if err := f.validate(true); err != nil {
		t.Fatal(err)
	}
	r, _ := f.redaction()
	if got := r["users"]; len(got.Exclude) != 1 || len(got.Mask) != 1 || got.Mask[0] != "pcard.number" {
		t.Errorf("users: %+v, want email excluded and the default card mask", got)
	}
	if got := r["suppliers"]; len(got.Hash) != 1 || len(got.Mask) != 0 {
		t.Errorf("suppliers: %+v, want tax_id hashed instead of the default mask", got)
	}
	f.FieldMask = []string{"none"}
	f.FieldHash = nil
	r, _ = f.redaction()
	if len(r["users"].Mask)+len(r["suppliers"].Mask) != 0 {
		t.Errorf("COUPA_FIELD_MASK_LIST=none still masks: %+v", r)
	}
}

func TestResetAcceptsDatesAndRFC3339(t *testing.T) {
	cli, parser := newParser(t)
	for arg, want := range map[string]time.Time{
		"2025-01-01":                time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		"2025-01-01T12:30:00+02:00": time.Date(2025, 1, 1, 10, 30, 0, 0, time.UTC),
	} {
		if _, err := parser.Parse([]string{"cursors", "reset", "--table", "invoices", "--to-datetime", arg}); err != nil {
			t.Errorf("%s: %v", arg, err)
			continue
		}
		if got := cli.Cursors.Reset.ToDatetime.Time; !got.Equal(want) {
			t.Errorf("%s read as %v, want %v", arg, got, want)
		}
	}
	if _, err := parser.Parse([]string{"cursors", "reset", "--table", "invoices", "--to-datetime", "yesterday"}); err == nil || !strings.Contains(err.Error(), "neither a date") {
		t.Errorf("yesterday: %v", err)
	}
}

func TestResetNeedsADestination(t *testing.T) {
	_, parser := newParser(t)
	_, err := parser.Parse([]string{"cursors", "reset", "--table", "invoices"})
	if err == nil || !strings.Contains(err.Error(), "--to-datetime D (a date or RFC 3339) or --to-earliest") {
		t.Errorf("reset without a destination: %v", err)
	}
	_, err = parser.Parse([]string{"cursors", "reset", "--table", "invoices", "--to-earliest", "--to-datetime", "2025-01-01"})
	if err == nil {
		t.Error("both destinations were accepted")
	}
}

// newParser is the CLI's parser, failing the test instead of exiting.
func newParser(t *testing.T) (*CLI, *kong.Kong) {
	t.Helper()
	var cli CLI
	parser, err := kong.New(&cli, kongVars(), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	return &cli, parser
}

// A value of the wrong type, given as a flag or as its environment
// variable, is one short error (main exits 1 with it), not pages of usage.
func TestBadValuesAreOneShortError(t *testing.T) {
	var cli CLI
	_, flagErr := parse(&cli, []string{"sync", "--rate-limit=abc"}, kong.Exit(func(int) { t.Fatal("kong exited") }))
	t.Setenv("COUPA_RATE_LIMIT", "abc")
	_, envErr := parse(&cli, []string{"sync"}, kong.Exit(func(int) { t.Fatal("kong exited") }))
	for name, err := range map[string]error{"flag": flagErr, "environment variable": envErr} {
		if err == nil || !strings.Contains(err.Error(), "rate-limit") || strings.Count(oneLine(err), "\n") > 0 || len(err.Error()) > 300 {
			t.Errorf("bad %s: %v", name, err)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// demo --serve keeps the embedded Kafka up after the sync and prints the
// commands to look at it, with addresses that answer; Ctrl-C ends it. The
// sample record shows the Avro field names a consumer sees.
func TestDemoServes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out lockedBuffer
	demo := DemoCmd{DataDir: t.TempDir(), Records: 20, Changes: 2, Serve: true, out: &out}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := demo.run(serveCtx)
		done <- err
	}()
	re := regexp.MustCompile(`(?m)^  KAFKA_BROKERS=(\S+)$`)
	for !strings.Contains(out.String(), "cursors list") {
		select {
		case err := <-done:
			t.Fatalf("demo ended before serving: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	m := re.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no KAFKA_BROKERS line:\n%s", out.String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(m[1], ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		t.Errorf("the printed broker %s does not answer while serving: %v", m[1], err)
	}
	for _, want := range []string{`"created_at"`, "kcat -b", "SCHEMA_REGISTRY_URL=http://", "IN TOPIC: committed records"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %s", want)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("demo after Ctrl-C: %v", err)
	}
}

// A long demo shows progress: lines with the records published so far.
func TestDemoProgressLines(t *testing.T) {
	m := producer.NewMetrics()
	var out lockedBuffer
	stop := progressLines(&out, m, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	stop()
	if !strings.Contains(out.String(), "records published (") {
		t.Errorf("no progress line:\n%s", out.String())
	}
}

// run's own setting (the poll interval) is in the one combined message too.
func TestRunReportsThePollIntervalWithTheRest(t *testing.T) {
	cmd := RunCmd{Flags: Flags{CoupaFlags: CoupaFlags{InstanceURL: "http://insecure.example.com"}}, PollInterval: 0}
	err := cmd.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "COUPA_POLL_INTERVAL 0s must be positive") || !strings.Contains(err.Error(), "only https") {
		t.Errorf("run with a zero poll interval and a bad URL: %v", err)
	}
}
