//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// latestCustom returns the learned custom fields (name -> Avro type as
// JSON) of the latest registered value schema of a table's topic, and how
// many versions its subject has.
func (w *world) latestCustom(ctx context.Context, table string) (map[string]string, int) {
	w.t.Helper()
	cl, err := sr.NewClient(sr.URLs(w.regURL))
	if err != nil {
		w.t.Fatal(err)
	}
	subject := w.topic(table) + "-value"
	versions, err := cl.SubjectVersions(ctx, subject)
	if err != nil {
		w.t.Fatal(err)
	}
	latest, err := cl.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		w.t.Fatal(err)
	}
	var schema struct {
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(latest.Schema.Schema), &schema); err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range schema.Fields {
		if f.Name != "custom" {
			continue
		}
		var union []struct {
			Fields []struct {
				Name string          `json:"name"`
				Type json.RawMessage `json:"type"`
			} `json:"fields"`
		}
		_ = json.Unmarshal(f.Type, &union)
		for _, u := range union {
			for _, cf := range u.Fields {
				out[cf.Name] = string(cf.Type)
			}
		}
	}
	return out, len(versions)
}

// TestSchemasEvolveOnRealKafka: on a real broker, under churn (which adds
// a custom field mid-sync), custom fields of every kind get typed fields
// in registered versions before their first record is published; a field
// an admin adds between passes gets a new version; a field re-created with
// another kind is a type conflict that is kept in custom_fields and counted
// while the table goes on. assertTruth checks every record against the
// schema it was written with, that it reads the same with the latest, and
// that nothing waits untyped that has a typed home; the Python consumer
// reads them all with the latest schemas.
func TestSchemasEvolveOnRealKafka(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	tables := []string{"invoices", "suppliers", "purchase_orders"}
	w := newWorld(t, coupatest.Config{Seed: 31, UTCOffset: -7 * time.Hour, Adversarial: true,
		Records: map[string]int{"invoices": 400, "suppliers": 120, "purchase_orders": 200}}, tables...)
	if err := w.sim.AddCustomField("suppliers", "vendor-class", coupatest.CustomText); err != nil {
		t.Fatal(err)
	}
	w.updateSome("suppliers", 30)
	time.Sleep(1100 * time.Millisecond) // a pass leaves the current second to the next: let the text versions be read first

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.sim.Churn(stop, 10*time.Millisecond, tables...)
	}()
	for range 3 {
		w.sync(ctx, func(c *producer.Config) { c.BatchRecords = 40 })
	}
	_, before := w.latestCustom(ctx, "invoices")
	if err := w.sim.AddCustomField("invoices", "carbon-kg", coupatest.CustomNumber); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.AddCustomField("suppliers", "vendor-class", coupatest.CustomLookup); err != nil {
		t.Fatal(err)
	}
	w.updateSome("invoices", 50)
	w.updateSome("suppliers", 60)
	w.sync(ctx, func(c *producer.Config) { c.BatchRecords = 40 })
	close(stop)
	wg.Wait()
	time.Sleep(1100 * time.Millisecond) // let the last second close

	metrics := producer.NewMetrics()
	res := w.sync(ctx, func(c *producer.Config) { c.Metrics = metrics })
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Table, r.Err)
		}
	}
	w.assertTruth(ctx)

	invoices, after := w.latestCustom(ctx, "invoices")
	if after <= before {
		t.Errorf("coupa.invoices-value: %d versions before carbon-kg, %d after: no new version", before, after)
	}
	if !strings.Contains(invoices["carbon_kg"], "double") {
		t.Errorf("carbon-kg: %q, want an optional double", invoices["carbon_kg"])
	}
	for _, table := range tables {
		learned, n := w.latestCustom(ctx, table)
		cfs, err := w.sim.CustomFields(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, cf := range cfs {
			if _, ok := learned[strings.ReplaceAll(cf.Key, "-", "_")]; !ok {
				t.Errorf("%s: custom field %s (%s) has no typed field", table, cf.Key, cf.Kind)
			}
		}
		t.Logf("%s: %d registered versions, %d typed custom fields", table, n, len(learned))
	}
	suppliers, _ := w.latestCustom(ctx, "suppliers")
	if suppliers["vendor_class"] != `["null","string"]` {
		t.Errorf("vendor-class: %s, want it kept as first learned, an optional string", suppliers["vendor_class"])
	}
	if got := counter(t, metrics, "coupa_kafka_type_conflicts_total", "suppliers"); got == 0 {
		t.Error("no type conflict counted for vendor-class re-created as a lookup")
	}
	pycheck(t, ctx, w, pyExpectEvolution)
}

// updateSome writes a new version of n records of table (so they render
// the custom fields added before).
func (w *world) updateSome(table string, n int) {
	w.t.Helper()
	for _, st := range w.sim.States(table)[:n] {
		if _, err := w.sim.Update(table, st.ID); err != nil {
			w.t.Fatal(err)
		}
	}
}

// counter reads a counter of the producer's metrics for one table.
func counter(t *testing.T, m *producer.Metrics, name, table string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == table {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// customFields returns the custom fields of the world's tables' headers.
func (w *world) customFields() map[string][]coupatest.CustomField {
	w.t.Helper()
	out := map[string][]coupatest.CustomField{}
	for _, tb := range w.tables {
		cfs, err := w.sim.CustomFields(tb.Name)
		if err != nil {
			continue // a table without custom fields
		}
		out[tb.Name] = cfs
	}
	return out
}

// assertCustomFieldsAddedMidSyncTyped fails unless the churn added a
// custom field since before (what customFields returned then), and every
// added field that a record of the truth has a value for has a typed
// field in the latest registered schema of its table.
func (w *world) assertCustomFieldsAddedMidSyncTyped(ctx context.Context, before map[string][]coupatest.CustomField) {
	w.t.Helper()
	added := 0
	for table, now := range w.customFields() {
		for _, cf := range now[len(before[table]):] {
			added++
			valued := 0
			for _, rec := range w.sim.Truth(table) {
				var v struct {
					Custom map[string]json.RawMessage `json:"custom-fields"`
				}
				if json.Unmarshal(rec.JSON, &v) == nil && len(v.Custom[cf.Key]) > 0 && string(v.Custom[cf.Key]) != "null" {
					valued++
				}
			}
			learned, versions := w.latestCustom(ctx, table)
			_, typed := learned[strings.ReplaceAll(cf.Key, "-", "_")]
			w.t.Logf("mid-sync custom field %s.%s (%s): %d records have a value, typed %v, %d registered versions", table, cf.Key, cf.Kind, valued, typed, versions)
			if valued > 0 && !typed {
				w.t.Errorf("%s: custom field %s added mid-sync has values but no typed field", table, cf.Key)
			}
		}
	}
	if added == 0 {
		w.t.Error("the churn added no custom field: schema evolution under kills was not tested")
	}
}
