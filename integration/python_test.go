//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// pythonFor returns the interpreter of the Python check: COUPA_PYCHECK_PYTHON
// (scripts/integration.sh sets it, and then it must work), else the venv that
// script makes, else "".
func pythonFor(t *testing.T) string {
	if p := os.Getenv("COUPA_PYCHECK_PYTHON"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "coupa-kafka", "venv", "bin", "python")
	if err := exec.Command(p, "-c", "import confluent_kafka, fastavro").Run(); err != nil {
		return ""
	}
	return p
}

type truthFile struct {
	Brokers  string `json:"brokers"`
	Registry string `json:"registry"`
	Instance string `json:"instance"`
	// ExpectEvolution: the check fails unless some value written with an
	// older schema version was read with the latest.
	ExpectEvolution bool `json:"expect_evolution"`
	// StaticSchemas: the sync kept its schemas static, so typeable values
	// wait untyped and no typed custom value need be checked.
	StaticSchemas bool         `json:"static_schemas"`
	Tables        []truthTable `json:"tables"`
}

type truthTable struct {
	Table       string        `json:"table"`
	FullRefresh bool          `json:"full_refresh"`
	Topic       string        `json:"topic"`
	LineTopic   string        `json:"line_topic,omitempty"`
	Records     []truthRecord `json:"records"`
}

type truthRecord struct {
	ID          int64           `json:"id"`
	UpdatedAtMS int64           `json:"updated_at_ms"`
	JSON        json.RawMessage `json:"json"`
}

var (
	pyTableLine = regexp.MustCompile(`(?m)^pycheck: (\w+): (\d+) records read_committed from \S+, (\d+) ids \(truth (\d+)\), (\d+) decimals and (\d+) timestamps.*, (\d+) typed custom values equal to custom_fields.*?, (?:(\d+) values written with an older schema read with the latest|no registered schema)`)
	pyLinesLine = regexp.MustCompile(`(?m)^pycheck: lines of (\w+): \d+ records read_committed from \S+, \d+ live keys, (\d+) typed custom values equal to custom_fields.*?, (?:(\d+) values written with an older schema read with the latest|no registered schema)`)
	pyOKLine    = regexp.MustCompile(`(?m)^pycheck: OK: (\d+) topics, \d+ decimals and \d+ timestamps checked, (\d+) typed custom values checked, (\d+) values read with a newer schema`)
)

// pycheckOption adjusts what the Python check is told to expect.
type pycheckOption func(*truthFile)

// pyExpectEvolution: the test changed the instance's custom fields between
// syncs, so some values were written with a schema version older than the
// latest; the check must have read some of them with the latest.
func pyExpectEvolution(tf *truthFile) { tf.ExpectEvolution = true }

// pycheck writes the simulator's truth to a JSON file and runs
// scripts/pycheck/check.py on the world's topics while the registry is up: a
// consumer that is not ours (librdkafka, read_committed; fastavro through the
// registry's REST API) must find exactly the truth, read every line topic,
// read every value written with an older schema version the same with the
// latest, and find every typed custom value equal to its JSON in
// custom_fields (check.py says what exactly). Without a Python set up (and
// COUPA_PYCHECK_PYTHON unset) it only logs that it did not run.
func pycheck(t *testing.T, ctx context.Context, w *world, opts ...pycheckOption) {
	t.Helper()
	py := pythonFor(t)
	if py == "" {
		t.Log("Python check not run: no venv with confluent-kafka and fastavro (scripts/integration.sh makes one)")
		return
	}
	tf := truthFile{Brokers: strings.Join(w.be.brokers, ","), Registry: w.regURL, Instance: w.client.Instance()}
	for _, o := range opts {
		o(&tf)
	}
	for _, tb := range w.tables {
		tt := truthTable{Table: tb.Name, Topic: w.topic(tb.Name), FullRefresh: tb.Mode == coupa.FullRefresh}
		if tb.LineTopic != "" { // worlds publish line topics (world.config; the binary's default)
			tt.LineTopic = w.topic(tb.LineTopic)
		}
		for id, r := range w.sim.Truth(tb.Name) {
			tt.Records = append(tt.Records, truthRecord{ID: id, UpdatedAtMS: r.UpdatedAt.UnixMilli(), JSON: r.JSON})
		}
		tf.Tables = append(tf.Tables, tt)
	}
	path := filepath.Join(t.TempDir(), "truth.json")
	b, err := json.Marshal(tf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, py, filepath.Join(repoRoot(t), "scripts", "pycheck", "check.py"), path)
	out, err := cmd.CombinedOutput()
	t.Logf("python check (%s):\n%s", py, strings.TrimRight(string(out), "\n"))
	if err != nil {
		t.Fatalf("python check failed: %v", err)
	}
	if !strings.Contains(string(out), "\npycheck: OK:") {
		t.Fatalf("python check exited 0 without its OK line")
	}
	// It must have read every table and found exactly the truth's ids.
	seen, seenLines := map[string]bool{}, map[string]bool{}
	for _, m := range pyTableLine.FindAllStringSubmatch(string(out), -1) {
		seen[m[1]] = true
		ids, _ := strconv.Atoi(m[3])
		truth, _ := strconv.Atoi(m[4])
		if ids != w.sim.Count(m[1]) || truth != ids {
			t.Errorf("python check of %s: %s ids, truth %s, instance has %d", m[1], m[3], m[4], w.sim.Count(m[1]))
		}
		if m[1] == "invoices" && (m[5] == "0" || m[6] == "0") {
			t.Errorf("python check of invoices compared %s decimals and %s timestamps, want some of each", m[5], m[6])
		}
		// Every simulated table has custom fields of every kind.
		if m[1] == "invoices" && m[7] == "0" && !tf.StaticSchemas {
			t.Errorf("python check of invoices compared no typed custom value with custom_fields")
		}
		if m[1] == "invoices" && tf.ExpectEvolution && (m[8] == "" || m[8] == "0") {
			t.Errorf("python check of invoices read no value written with an older schema with the latest: the test added a custom field mid-sync")
		}
	}
	for _, m := range pyLinesLine.FindAllStringSubmatch(string(out), -1) {
		seenLines[m[1]] = true
	}
	for _, tb := range w.tables {
		if !seen[tb.Name] {
			t.Errorf("python check printed no summary for %s", tb.Name)
		}
	}
	for _, tt := range tf.Tables {
		if tt.LineTopic != "" && !seenLines[tt.Table] {
			t.Errorf("python check printed no summary for the lines of %s (%s)", tt.Table, tt.LineTopic)
		}
	}
	ok := pyOKLine.FindStringSubmatch(string(out))
	if ok == nil {
		t.Fatalf("python check's OK line does not say what it compared")
	}
	if ok[2] == "0" && !tf.StaticSchemas {
		t.Errorf("python check compared no typed custom value (the learned custom view) with custom_fields")
	}
	if ok[3] == "0" && tf.ExpectEvolution {
		t.Errorf("python check read no value written with an older schema version with the latest")
	}
	t.Logf("python check: %s topics, %s typed custom values equal to their JSON, %s values written with an older schema read with the latest", ok[1], ok[2], ok[3])
}

// A consumer that is not ours reads what coupa-kafka wrote: librdkafka with
// read_committed, values decoded through the registry by fastavro, decimals
// and timestamp-millis equal to Coupa's JSON, typed custom fields equal to
// their JSON. An admin adds a custom field between the syncs: the invoices
// updated after it are written with a new schema version, and the consumer
// reads the older ones with that latest version (fastavro's schema
// resolution, writer schema from the header, reader schema the latest).
// (The binary kill test runs the same check on what survived the kills.)
func TestPythonConsumerReadsWhatWeWrite(t *testing.T) {
	if pythonFor(t) == "" {
		t.Skip("no Python with confluent-kafka and fastavro: run scripts/integration.sh, or set COUPA_PYCHECK_PYTHON")
	}
	ctx := testContext(t, 4*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 9, UTCOffset: -7 * time.Hour, Adversarial: true})
	w.sync(ctx)
	if err := w.sim.AddCustomField("invoices", "carbon-kg", coupatest.CustomNumber); err != nil {
		t.Fatal(err)
	}
	states := w.sim.States("invoices")
	for i := range 20 {
		w.sim.Update("invoices", states[i*len(states)/20].ID)
	}
	w.sim.Insert("invoices", 5)
	time.Sleep(1100 * time.Millisecond)
	w.sync(ctx)
	w.assertTruth(ctx)
	pycheck(t, ctx, w, pyExpectEvolution)
}
