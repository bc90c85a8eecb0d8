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
	Brokers  string       `json:"brokers"`
	Registry string       `json:"registry"`
	Instance string       `json:"instance"`
	Tables   []truthTable `json:"tables"`
}

type truthTable struct {
	Table       string        `json:"table"`
	FullRefresh bool          `json:"full_refresh"`
	Topic       string        `json:"topic"`
	Records     []truthRecord `json:"records"`
}

type truthRecord struct {
	ID          int64           `json:"id"`
	UpdatedAtMS int64           `json:"updated_at_ms"`
	JSON        json.RawMessage `json:"json"`
}

var pyTableLine = regexp.MustCompile(`(?m)^pycheck: (\w+): (\d+) records read_committed from \S+, (\d+) ids \(truth (\d+)\), (\d+) decimals and (\d+) timestamps`)

// pycheck writes the simulator's truth to a JSON file and runs
// scripts/pycheck/check.py on the world's topics while the registry is up: a
// consumer that is not ours (librdkafka, read_committed; fastavro through the
// registry's REST API) must find exactly the truth. Without a Python set up
// (and COUPA_PYCHECK_PYTHON unset) it only logs that it did not run.
func pycheck(t *testing.T, ctx context.Context, w *world) {
	t.Helper()
	py := pythonFor(t)
	if py == "" {
		t.Log("Python check not run: no venv with confluent-kafka and fastavro (scripts/integration.sh makes one)")
		return
	}
	tf := truthFile{Brokers: strings.Join(w.be.brokers, ","), Registry: w.regURL, Instance: w.client.Instance()}
	for _, tb := range w.tables {
		tt := truthTable{Table: tb.Name, Topic: w.topic(tb.Name), FullRefresh: tb.Mode == coupa.FullRefresh}
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
	seen := map[string]bool{}
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
	}
	for _, tb := range w.tables {
		if !seen[tb.Name] {
			t.Errorf("python check printed no summary for %s", tb.Name)
		}
	}
}

// A consumer that is not ours reads what coupa-kafka wrote: librdkafka with
// read_committed, values decoded through the registry by fastavro, decimals
// and timestamp-millis equal to Coupa's JSON. (The binary kill test runs the
// same check on what survived the kills.)
func TestPythonConsumerReadsWhatWeWrite(t *testing.T) {
	if pythonFor(t) == "" {
		t.Skip("no Python with confluent-kafka and fastavro: run scripts/integration.sh, or set COUPA_PYCHECK_PYTHON")
	}
	ctx := testContext(t, 4*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 9, UTCOffset: -7 * time.Hour, Adversarial: true})
	w.sync(ctx)
	states := w.sim.States("invoices")
	for i := range 20 {
		w.sim.Update("invoices", states[i*len(states)/20].ID)
	}
	w.sim.Insert("invoices", 5)
	time.Sleep(1100 * time.Millisecond)
	w.sync(ctx)
	w.assertTruth(ctx)
	pycheck(t, ctx, w)
}
