package producer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// latestSchema returns the latest registered schema of a topic's values
// and how many versions the subject has.
func (h *harness) latestSchema(ctx context.Context, table string) (map[string]any, int) {
	h.t.Helper()
	cl, err := sr.NewClient(sr.URLs(h.reg.URL()))
	if err != nil {
		h.t.Fatal(err)
	}
	versions, err := cl.SubjectVersions(ctx, "coupa."+table+"-value")
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := cl.SchemaByVersion(ctx, "coupa."+table+"-value", -1)
	if err != nil {
		h.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s.Schema.Schema), &m); err != nil {
		h.t.Fatal(err)
	}
	return m, len(versions)
}

// customField finds a field of the custom view of the record named record
// (the top level when record is "") in a schema.
func customField(schema map[string]any, name string) map[string]any {
	fields, _ := schema["fields"].([]any)
	for _, f := range fields {
		fd := f.(map[string]any)
		if fd["name"] != "custom" {
			continue
		}
		rec := fd["type"].([]any)[1].(map[string]any)
		for _, cf := range rec["fields"].([]any) {
			if c := cf.(map[string]any); c["name"] == name {
				return c
			}
		}
	}
	return nil
}

// updateSome writes a new version of n records of table, after a custom
// field change, so that they render it.
func (h *harness) updateSome(table string, n int) {
	h.t.Helper()
	for _, st := range h.sim.States(table)[:n] {
		if _, err := h.sim.Update(table, st.ID); err != nil {
			h.t.Fatal(err)
		}
	}
}

// TestCustomFieldAddedMidSync: every custom field of the simulated
// instance becomes a typed field in a registered version before the first
// record that has it is published; a field an admin adds between two
// passes gets its own new version, the records before and after read with
// the latest one, and nothing waits in custom_fields or extra that has a
// typed home (truthcheck.Registry checks the last two for every record).
func TestCustomFieldAddedMidSync(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 21, Records: map[string]int{"invoices": 300, "suppliers": 100}}, "invoices", "suppliers")
	metrics := NewMetrics()
	h.sync(ctx, func(c *Config) { c.Metrics = metrics })
	h.assertTruth(ctx)
	schema, before := h.latestSchema(ctx, "invoices")
	if before < 2 {
		t.Fatalf("coupa.invoices-value has %d versions: the custom fields were not learned", before)
	}
	for _, cf := range mustCustomFields(t, h, "invoices") {
		if customField(schema, avroName(cf.Key)) == nil {
			t.Errorf("custom field %s (%s) has no typed field", cf.Key, cf.Kind)
		}
	}

	// A restart adopts what the registry holds: no new version.
	h.sync(ctx)
	if _, n := h.latestSchema(ctx, "invoices"); n != before {
		t.Fatalf("a restart without new fields registered %d versions, had %d", n, before)
	}

	if err := h.sim.AddCustomField("invoices", "carbon-kg", coupatest.CustomNumber); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.AddCustomField("invoices", "category-manager", coupatest.CustomUser); err != nil {
		t.Fatal(err)
	}
	h.updateSome("invoices", 60)
	time.Sleep(1100 * time.Millisecond)
	h.sync(ctx, func(c *Config) { c.Metrics = metrics })
	h.assertTruth(ctx)
	schema, after := h.latestSchema(ctx, "invoices")
	if after != before+1 {
		t.Errorf("%d versions after two new custom fields, want %d: one version learns both", after, before+1)
	}
	if f := customField(schema, "carbon_kg"); f == nil || !strings.Contains(jsonText(f["type"]), "double") {
		t.Errorf("carbon-kg: %v, want an optional double", f)
	}
	if f := customField(schema, "category_manager"); f == nil || !strings.Contains(jsonText(f["type"]), `"login"`) {
		t.Errorf("category-manager: %v, want a record with the user's login", f)
	}
	if got := testutil.ToFloat64(metrics.untyped.WithLabelValues("invoices")); got != 0 {
		t.Errorf("%v untyped values published", got)
	}
	if got := testutil.ToFloat64(metrics.conflicts.WithLabelValues("invoices")); got != 0 {
		t.Errorf("%v type conflicts counted", got)
	}
}

func mustCustomFields(t *testing.T, h *harness, table string) []coupatest.CustomField {
	t.Helper()
	cfs, err := h.sim.CustomFields(table)
	if err != nil {
		t.Fatal(err)
	}
	return cfs
}

func avroName(key string) string { return strings.NewReplacer("-", "_", "?", "_q").Replace(key) }

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTypeConflictIsKeptAndCounted: a custom field learned as text that
// arrives as an object (the admin re-created it as a lookup) is kept in
// custom_fields, published null in its typed field, counted, and the
// table goes on.
func TestTypeConflictIsKeptAndCounted(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 22, Records: map[string]int{"suppliers": 100}}, "suppliers")
	if err := h.sim.AddCustomField("suppliers", "vendor-class", coupatest.CustomText); err != nil {
		t.Fatal(err)
	}
	h.updateSome("suppliers", 20)
	time.Sleep(1100 * time.Millisecond) // let the second close
	h.sync(ctx)
	if err := h.sim.AddCustomField("suppliers", "vendor-class", coupatest.CustomLookup); err != nil {
		t.Fatal(err)
	}
	h.updateSome("suppliers", 40)
	time.Sleep(1100 * time.Millisecond)
	metrics := NewMetrics()
	res := h.sync(ctx, func(c *Config) { c.Metrics = metrics })
	if res[0].Err != nil {
		t.Fatalf("the conflict stopped the table: %v", res[0].Err)
	}
	if got := testutil.ToFloat64(metrics.conflicts.WithLabelValues("suppliers")); got == 0 {
		t.Error("no type conflict counted")
	}
	schema, _ := h.latestSchema(ctx, "suppliers")
	if f := customField(schema, "vendor_class"); f == nil || jsonText(f["type"]) != `["null","string"]` {
		t.Errorf("vendor-class: %v, want it kept as learned, an optional string", f)
	}
	h.assertTruth(ctx) // byte for byte: the objects are in custom_fields
}

// TestStaticSchemas: with StaticSchemas, no version beyond the generated
// one is registered, and the metric counts the values that wait untyped.
func TestStaticSchemas(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 23, Records: map[string]int{"invoices": 100}}, "invoices")
	metrics := NewMetrics()
	h.sync(ctx, func(c *Config) { c.Metrics, c.StaticSchemas = metrics, true })
	if _, n := h.latestSchema(ctx, "invoices"); n != 1 {
		t.Errorf("%d versions registered with static schemas, want 1", n)
	}
	if got := testutil.ToFloat64(metrics.untyped.WithLabelValues("invoices")); got == 0 {
		t.Error("the untyped values waiting in custom_fields and extra are not counted")
	}
	if got := testutil.ToFloat64(metrics.untyped.WithLabelValues("invoice_lines")); got == 0 {
		t.Error("the line topic's untyped values are not counted")
	}
	h.assertTruth(ctx, truthcheck.StaticSchemas())
}

// TestStoppedWhileLearningLosesNothing: a pass stopped (SIGTERM, or its
// instance moved to another replica) while it registers the version a page
// needs commits what it converted before that page, and a cursor that does
// not pass the page: the next pass publishes the page. (The walk had read
// the page; committing its position lost records older than the lookback.)
func TestStoppedWhileLearningLosesNothing(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	h := newHarness(t, coupatest.Config{Seed: 23, Records: map[string]int{"suppliers": 200}}, "suppliers")
	var blocking atomic.Bool
	waiting, release := make(chan struct{}, 1), make(chan struct{})
	target, err := url.Parse(h.reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if blocking.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") {
			select {
			case waiting <- struct{}{}:
			default:
			}
			io.Copy(io.Discard, r.Body) // so that the server sees the client go
			select {                    // the registry never answers this one
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	t.Cleanup(func() { close(release) })
	gated, err := sr.NewClient(sr.URLs(gate.URL))
	if err != nil {
		t.Fatal(err)
	}
	p := h.producer(ctx, func(c *Config) { c.Registry = schemas.NewRegistry(gated) })
	blocking.Store(true)
	sctx, stop := context.WithCancel(ctx)
	go func() {
		select {
		case <-waiting:
		case <-sctx.Done():
		}
		stop()
	}()
	if _, err := p.Sync(sctx); err == nil {
		t.Fatal("a sync stopped while registering succeeded")
	}
	p.Close()
	blocking.Store(false)
	h.sync(ctx)
	h.assertTruth(ctx)
}
