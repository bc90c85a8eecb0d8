//go:build integration && flink

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// The downstream a user builds, for real: Flink SQL (deploy/flink/coupa.sql,
// in an embedded mini-cluster) reads the topics as changelogs and keeps
// PostgreSQL in step. The tables must equal the simulator's truth after a
// backfill, again after the instance changes and coupa-kafka syncs, with the
// same Flink job still running, and after records are deleted and the
// delete sweep tombstones them. Run by scripts/flink-stage.sh, which builds the job
// and starts PostgreSQL (POSTGRES_URL).
func TestFlinkSQLKeepsPostgresInStep(t *testing.T) {
	flinkScenario(t, 400, startFlinkJob, true)
}

// The same job as a user submits it to a Flink cluster: the shaded job jar,
// `flink run`, on a standalone session cluster (scripts/flink-cluster.sh)
// whose lib holds Flink alone, so the jar must bring every connector, format
// and driver itself.
func TestFlinkJobJarOnStandaloneCluster(t *testing.T) {
	flinkScenario(t, 150, submitToFlinkCluster, false)
}

// flinkScenario syncs invoices and suppliers, starts a Flink job with start
// on them and a database of its own, and checks PostgreSQL against the
// truth after the backfill, after changes (the job never restarted) and,
// with deletes, after tombstones.
func flinkScenario(t *testing.T, invoices int, start func(*testing.T, *world, *postgresDB) *proc, deletes bool) {
	ctx := testContext(t, 10*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 15, UTCOffset: -7 * time.Hour, Deletes: deletes,
		Records: map[string]int{"invoices": invoices, "suppliers": invoices / 10}}, "invoices", "suppliers")
	w.sync(ctx)
	w.assertTruth(ctx)

	db := newPostgresDB(t, ctx)
	db.exec(ctx, "-f", filepath.Join(repoRoot(t), "deploy", "flink", "postgres.sql"))
	job := start(t, w, db)

	w.waitPostgresInStep(ctx, db, job, "after the backfill")

	// The instance changes (updates, inserts, late writes, a bulk edit of
	// invoices), coupa-kafka syncs, and the running job follows.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.sim.Churn(stop, 20*time.Millisecond, "invoices", "suppliers")
	}()
	time.Sleep(4 * time.Second)
	close(stop)
	<-done
	time.Sleep(1100 * time.Millisecond) // let the last second of changes close
	w.sync(ctx, w.sweepEveryPass)       // with deletes, the churn deleted records too
	w.assertTruth(ctx)
	w.waitPostgresInStep(ctx, db, job, "after changes, the same job still running")
	if !deletes {
		return
	}

	// Deletes: records vanish from Coupa; coupa-kafka's delete sweep finds
	// them and tombstones them (key, null value) with their lines. The rows
	// go, the lines of a deleted invoice with them, and the aggregate drops
	// their amounts; a deleted supplier's spend stays, with no name.
	for table, n := range map[string]int{"invoices": 5, "suppliers": 2} {
		for _, st := range w.sim.States(table)[:n] {
			if err := w.sim.Delete(table, st.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.sync(ctx, w.sweepEveryPass)
	if tombstoned := w.assertTruth(ctx); tombstoned["invoices"] < 5 || tombstoned["suppliers"] < 2 {
		t.Fatalf("the sweep tombstoned %v, want at least 5 invoices and 2 suppliers", tombstoned)
	}
	w.waitPostgresInStep(ctx, db, job, "after tombstones")
}

// postgresDB is one database of its own in the cluster at POSTGRES_URL.
type postgresDB struct {
	t   *testing.T
	url string // postgres://...
}

func newPostgresDB(t *testing.T, ctx context.Context) *postgresDB {
	base := os.Getenv("POSTGRES_URL")
	if base == "" {
		t.Fatal("POSTGRES_URL is not set: this test is run by scripts/flink-stage.sh")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := "t" + strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(
		nameRE.ReplaceAllString(strings.ToLower(t.Name()+"_"+time.Now().Format("150405.000")), "_"), "_"), "_"), "__", "_")
	admin := &postgresDB{t: t, url: base}
	admin.exec(ctx, "-c", "CREATE DATABASE "+name)
	u.Path = "/" + name
	return &postgresDB{t: t, url: u.String()}
}

// jdbcURL is the database's address as PostgreSQL's JDBC driver takes it.
func (db *postgresDB) jdbcURL() string {
	u, _ := url.Parse(db.url)
	q := u.Query()
	q.Set("user", u.User.Username())
	if p, ok := u.User.Password(); ok {
		q.Set("password", p)
	}
	q.Del("sslmode")
	return fmt.Sprintf("jdbc:postgresql://%s%s?%s", u.Host, u.Path, q.Encode())
}

func (db *postgresDB) exec(ctx context.Context, args ...string) string {
	db.t.Helper()
	cmd := exec.CommandContext(ctx, "psql", append([]string{db.url, "-q", "-v", "ON_ERROR_STOP=1", "-At"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		db.t.Fatalf("psql %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// rows returns a table's rows, each column as text (nil for NULL).
func (db *postgresDB) rows(ctx context.Context, table string) []map[string]any {
	db.t.Helper()
	out := db.exec(ctx, "-c", "SELECT coalesce(json_agg(t), '[]') FROM "+table+" AS t")
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber() // NUMERIC exactly as PostgreSQL prints it
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		db.t.Fatalf("%s: %v in %.200q", table, err, out)
	}
	return rows
}

// startFlinkJob runs deploy/flink/coupa.sql in an embedded mini-cluster,
// in a JVM of its own, on the world's topics and the database.
func startFlinkJob(t *testing.T, w *world, db *postgresDB) *proc {
	dir := filepath.Join(repoRoot(t), "deploy", "flink")
	cp, err := os.ReadFile(filepath.Join(dir, "target", "classpath.txt"))
	if err != nil {
		t.Fatalf("the Flink job is not built (scripts/flink-stage.sh builds it): %v", err)
	}
	env := append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(w.be.brokers, ","),
		"SCHEMA_REGISTRY_URL="+w.regURL,
		"COUPA_TOPIC_PREFIX="+w.prefix,
		"JDBC_URL="+db.jdbcURL())
	return startBinary(t, "java", env, "-Xmx768m",
		"-Dlog4j.configurationFile="+filepath.Join(dir, "log4j2.properties"),
		"-cp", filepath.Join(dir, "target", "classes")+":"+strings.TrimSpace(string(cp)),
		"coupa.flink.SqlJob", filepath.Join(dir, "coupa.sql"))
}

// submitToFlinkCluster starts a standalone session cluster and submits the
// shaded job jar to it with `flink run` (attached: the client runs until the
// job fails, and prints why).
func submitToFlinkCluster(t *testing.T, w *world, db *postgresDB) *proc {
	root := repoRoot(t)
	script := filepath.Join(root, "scripts", "flink-cluster.sh")
	state := t.TempDir()
	env := append(os.Environ(), "COUPA_FLINK_STATE="+state)
	start := exec.Command(script, "start")
	start.Env = env
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("flink-cluster.sh start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		stop := exec.Command(script, "stop")
		stop.Env = env
		_ = stop.Run()
	})
	dir := filepath.Join(root, "deploy", "flink")
	return startBinary(t, script, append(env,
		"KAFKA_BROKERS="+strings.Join(w.be.brokers, ","),
		"SCHEMA_REGISTRY_URL="+w.regURL,
		"COUPA_TOPIC_PREFIX="+w.prefix,
		"JDBC_URL="+db.jdbcURL()),
		"run", "run", filepath.Join(dir, "target", "coupa-flink-sql.jar"), filepath.Join(dir, "coupa.sql"))
}

// waitPostgresInStep waits until PostgreSQL equals the simulator's truth,
// failing with the last difference if it does not within three minutes.
func (w *world) waitPostgresInStep(ctx context.Context, db *postgresDB, job *proc, when string) {
	w.t.Helper()
	start := time.Now()
	want := expectedTables(w.t, w.sim)
	var diff []string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		select {
		case <-job.exited:
			w.t.Fatalf("%s: the Flink job exited:\n%s", when, tail(job.out.String(), 40))
		case <-time.After(2 * time.Second):
		}
		diff = nil
		for _, table := range []string{"invoices", "invoice_lines", "suppliers", "spend_by_supplier"} {
			diff = append(diff, compareRows(table, want[table], db.rows(ctx, table))...)
		}
		if len(diff) == 0 {
			w.t.Logf("%s: PostgreSQL equals the truth after %s: %d invoices, %d lines, %d suppliers, %d spend groups",
				when, time.Since(start).Round(time.Second), len(want["invoices"]), len(want["invoice_lines"]),
				len(want["suppliers"]), len(want["spend_by_supplier"]))
			return
		}
	}
	if len(diff) > 20 {
		diff = append(diff[:20], fmt.Sprintf("... and %d more", len(diff)-20))
	}
	w.t.Fatalf("%s: PostgreSQL is not the truth after %s:\n%s\nFlink's output:\n%s",
		when, time.Since(start).Round(time.Second), strings.Join(diff, "\n"), tail(job.out.String(), 30))
}

// expectedTables computes, from the simulator's truth (Coupa's JSON), the
// rows each PostgreSQL table must hold, keyed by primary key, each column
// normalised as compareRows normalises PostgreSQL's.
func expectedTables(t *testing.T, sim *coupatest.Server) map[string]map[string]map[string]string {
	out := map[string]map[string]map[string]string{
		"invoices": {}, "invoice_lines": {}, "suppliers": {}, "spend_by_supplier": {},
	}
	supplierName := map[string]string{}
	for _, r := range sim.Truth("suppliers") {
		s := decodeJSON(t, r.JSON)
		row := map[string]string{
			"id": num(s["id"]), "name": text(s["name"]), "number": text(s["number"]),
			"status": text(s["status"]), "updated_at": stamp(t, s["updated-at"]),
		}
		out["suppliers"][row["id"]] = row
		supplierName[row["id"]] = row["name"]
	}
	type group struct {
		n   int
		sum *big.Rat
	}
	groups := map[[2]string]*group{}
	for _, r := range sim.Truth("invoices") {
		inv := decodeJSON(t, r.JSON)
		id := num(inv["id"])
		supplier, currency := num(field(inv, "supplier", "id")), text(field(inv, "currency", "code"))
		out["invoices"][id] = map[string]string{
			"id": id, "invoice_number": text(inv["invoice-number"]), "status": text(inv["status"]),
			"supplier_id": supplier, "currency": currency, "gross_total": decimal(t, inv["gross-total"]),
			"invoice_date": stamp(t, inv["invoice-date"]), "updated_at": stamp(t, inv["updated-at"]),
		}
		lines, _ := inv["invoice-lines"].([]any)
		for _, l := range lines {
			line := l.(map[string]any)
			lid := num(line["id"])
			out["invoice_lines"][lid] = map[string]string{
				"id": lid, "invoice_id": id, "line_num": num(line["line-num"]), "description": text(line["description"]),
				"quantity": decimal(t, line["quantity"]), "price": decimal(t, line["price"]), "total": decimal(t, line["total"]),
				"updated_at": stamp(t, line["updated-at"]),
			}
		}
		if supplier == null || currency == null {
			continue
		}
		g := groups[[2]string{supplier, currency}]
		if g == nil {
			g = &group{}
			groups[[2]string{supplier, currency}] = g
		}
		g.n++
		if v := decimal(t, inv["gross-total"]); v != null {
			if g.sum == nil {
				g.sum = new(big.Rat)
			}
			x, _ := new(big.Rat).SetString(v)
			g.sum.Add(g.sum, x)
		}
	}
	for k, g := range groups {
		name, ok := supplierName[k[0]]
		if !ok {
			name = null
		}
		sum := null
		if g.sum != nil {
			sum = g.sum.RatString()
		}
		out["spend_by_supplier"][k[0]+"/"+k[1]] = map[string]string{
			"supplier_id": k[0], "currency": k[1], "supplier_name": name,
			"invoice_count": fmt.Sprint(g.n), "gross_total": sum,
		}
	}
	return out
}

// compareRows reports how PostgreSQL's rows differ from want: rows missing,
// rows that should not be there, and columns whose values differ (decimals
// compared as exact numbers, timestamps as UTC instants).
func compareRows(table string, want map[string]map[string]string, got []map[string]any) []string {
	var diff []string
	seen := map[string]bool{}
	for _, row := range got {
		key := num(row["id"])
		if table == "spend_by_supplier" {
			key = num(row["supplier_id"]) + "/" + text(row["currency"])
		}
		seen[key] = true
		w, ok := want[key]
		if !ok {
			diff = append(diff, fmt.Sprintf("%s %s: in PostgreSQL, not in Coupa", table, key))
			continue
		}
		for col, wv := range w {
			if gv := pgValue(row[col]); gv != wv {
				diff = append(diff, fmt.Sprintf("%s %s %s: PostgreSQL %s, Coupa %s", table, key, col, gv, wv))
			}
		}
	}
	for key := range want {
		if !seen[key] {
			diff = append(diff, fmt.Sprintf("%s %s: in Coupa, missing in PostgreSQL", table, key))
		}
	}
	sort.Strings(diff)
	return diff
}

const null = "NULL"

// pgValue normalises a column of json_agg's output: numbers as exact
// rationals, timestamps (UTC, without zone) as RFC 3339.
func pgValue(v any) string {
	switch x := v.(type) {
	case nil:
		return null
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return string(x)
		}
		return r.RatString()
	case string:
		if ts, err := time.Parse("2006-01-02T15:04:05.999999999", x); err == nil {
			return ts.UTC().Format(time.RFC3339Nano)
		}
		return x
	}
	return fmt.Sprint(v)
}

func decodeJSON(t *testing.T, raw []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

func num(v any) string {
	if v == nil {
		return null
	}
	return pgValue(v)
}

func text(v any) string {
	if v == nil {
		return null
	}
	return fmt.Sprint(v)
}

// decimal is a Coupa decimal (JSON text) as an exact rational.
func decimal(t *testing.T, v any) string {
	if v == nil {
		return null
	}
	r, ok := new(big.Rat).SetString(fmt.Sprint(v))
	if !ok {
		t.Fatalf("Coupa decimal %q", v)
	}
	return r.RatString()
}

// stamp is a Coupa timestamp (with its offset) as the UTC instant.
func stamp(t *testing.T, v any) string {
	if v == nil {
		return null
	}
	ts, err := time.Parse(time.RFC3339, fmt.Sprint(v))
	if err != nil {
		t.Fatalf("Coupa timestamp %q: %v", v, err)
	}
	return ts.UTC().Format(time.RFC3339Nano)
}
