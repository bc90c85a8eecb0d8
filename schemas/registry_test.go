package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const subject = "coupa.invoices-value"

// fakeRegistry is srfake behind a counter of HTTP requests.
func fakeRegistry(t *testing.T) (*srfake.Registry, *Registry, *atomic.Int32) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	var calls atomic.Int32
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool { calls.Add(1); return false })
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return fake, fastRetries(NewRegistry(cl)), &calls
}

func fastRetries(r *Registry) *Registry {
	r.newBackOff = func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) }
	return r
}

// editSchema returns the invoices schema text changed by edit, which gets
// the top-level fields (extra stays last).
func editSchema(t *testing.T, edit func(fields []any) []any) *Table {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(mustLoad(t, "invoices").SchemaText()), &s); err != nil {
		t.Fatal(err)
	}
	s["fields"] = edit(s["fields"].([]any))
	b, _ := json.Marshal(s)
	tb, err := NewTable("invoices", string(b))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func fieldNamed(fields []any, name string) map[string]any {
	for _, f := range fields {
		if f.(map[string]any)["name"] == name {
			return f.(map[string]any)
		}
	}
	panic(name)
}

func without(fields []any, name string) []any {
	var out []any
	for _, f := range fields {
		if f.(map[string]any)["name"] != name {
			out = append(out, f)
		}
	}
	return out
}

func addOptional(fields []any, name string, typ any) []any {
	f := map[string]any{"name": name, "type": []any{"null", typ}, "default": nil, "doc": "added in a test"}
	n := len(fields)
	return append(fields[:n-1:n-1], f, fields[n-1])
}

func TestRegisterCachesIDs(t *testing.T) {
	fake, reg, calls := fakeRegistry(t)
	tb := mustLoad(t, "invoices")
	ctx := context.Background()
	id, err := reg.Register(ctx, subject, tb)
	if err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	if again, err := reg.Register(ctx, subject, tb); err != nil || again != id {
		t.Fatalf("second Register = %d, %v; want %d", again, err, id)
	}
	if calls.Load() != before {
		t.Error("a cached id still asked the registry")
	}
	// A fresh process finds the identical schema and does not add a version.
	other := fastRetries(NewRegistry(mustClient(t, fake.URL())))
	if again, err := other.Register(ctx, subject, tb); err != nil || again != id {
		t.Fatalf("Register from a new Registry = %d, %v; want %d", again, err, id)
	}
	if _, ok := fake.GetSchema(subject, 2); ok {
		t.Error("re-registering the same schema created version 2")
	}
	if got, ok := fake.GetSchema(subject, 1); !ok || got.Schema.Schema != tb.SchemaText() {
		t.Error("version 1 is not the embedded schema text")
	}
	// The new subject asks the registry to enforce what Register checks.
	res := mustClient(t, fake.URL()).Compatibility(ctx, subject)
	if len(res) != 1 || res[0].Err != nil || res[0].Level != sr.CompatBackwardTransitive {
		t.Errorf("subject compatibility %+v, want BACKWARD_TRANSITIVE", res)
	}
}

func mustClient(t *testing.T, url string) *sr.Client {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestEvolutionAddOptionalFieldPasses(t *testing.T) {
	fake, reg, _ := fakeRegistry(t)
	ctx := context.Background()
	id1, err := reg.Register(ctx, subject, mustLoad(t, "invoices"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := editSchema(t, func(fs []any) []any { return addOptional(fs, "r40_new_field", "string") })
	id2, err := reg.Register(ctx, subject, v2)
	if err != nil {
		t.Fatalf("adding an optional field was refused: %v", err)
	}
	if id2 == id1 {
		t.Error("the new version got the old id")
	}
	if _, ok := fake.GetSchema(subject, 2); !ok {
		t.Error("no version 2")
	}
}

func TestEvolutionRefused(t *testing.T) {
	cases := []struct {
		name      string
		edit      func([]any) []any
		wantField string
	}{
		{"remove a field", func(fs []any) []any { return without(fs, "status") }, "status"},
		{"change a type", func(fs []any) []any {
			fieldNamed(fs, "status")["type"] = []any{"null", "long"}
			return fs
		}, "status"},
		{"change a nested type", func(fs []any) []any {
			sup := fieldNamed(fs, "supplier")["type"].([]any)[1].(map[string]any)
			fieldNamed(sup["fields"].([]any), "name")["type"] = []any{"null", "long"}
			return fs
		}, "supplier.name"},
		{"change a line field's type", func(fs []any) []any {
			line := fieldNamed(fs, "invoice_lines")["type"].([]any)[1].(map[string]any)["items"].(map[string]any)
			fieldNamed(line["fields"].([]any), "description")["type"] = []any{"null", "boolean"}
			return fs
		}, "invoice_lines.description"},
		{"remove a line field", func(fs []any) []any {
			line := fieldNamed(fs, "invoice_lines")["type"].([]any)[1].(map[string]any)["items"].(map[string]any)
			line["fields"] = without(line["fields"].([]any), "quantity")
			return fs
		}, "invoice_lines.quantity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake, reg, _ := fakeRegistry(t)
			ctx := context.Background()
			if _, err := reg.Register(ctx, subject, mustLoad(t, "invoices")); err != nil {
				t.Fatal(err)
			}
			_, err := reg.Register(ctx, subject, editSchema(t, c.edit))
			var ie *IncompatibleError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *IncompatibleError", err)
			}
			if ie.Field != c.wantField || ie.Subject != subject || ie.Version != 1 {
				t.Errorf("error names %s v%d field %q; want field %q: %v", ie.Subject, ie.Version, ie.Field, c.wantField, err)
			}
			if !strings.Contains(err.Error(), c.wantField) {
				t.Errorf("message does not name the field: %v", err)
			}
			if _, ok := fake.GetSchema(subject, 2); ok {
				t.Error("the refused schema was registered")
			}
		})
	}
}

// BACKWARD_TRANSITIVE: a new version compatible with the latest one but
// not with an older one is refused, naming the older version.
func TestEvolutionIsTransitive(t *testing.T) {
	fake, reg, _ := fakeRegistry(t)
	v1 := editSchema(t, func(fs []any) []any { return addOptional(fs, "legacy", "long") })
	v2 := mustLoad(t, "invoices") // registered behind our back without "legacy"
	v3 := editSchema(t, func(fs []any) []any { return addOptional(fs, "legacy", "string") })
	if _, _, err := fake.RegisterSchema(subject, sr.Schema{Schema: v1.SchemaText()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fake.RegisterSchema(subject, sr.Schema{Schema: v2.SchemaText()}); err != nil {
		t.Fatal(err)
	}
	_, err := reg.Register(context.Background(), subject, v3)
	var ie *IncompatibleError
	if !errors.As(err, &ie) || ie.Version != 1 || ie.Field != "legacy" {
		t.Fatalf("err = %v; want incompatible with version 1 on field legacy", err)
	}
}

func TestIncompatibilityAddedRequiredField(t *testing.T) {
	old := mustLoad(t, "approvals").Schema()
	var s map[string]any
	_ = json.Unmarshal([]byte(mustLoad(t, "approvals").SchemaText()), &s)
	fs := s["fields"].([]any)
	s["fields"] = append([]any{map[string]any{"name": "must_have", "type": "long"}}, fs...)
	b, _ := json.Marshal(s)
	newS, err := avro.ParseWithCache(string(b), "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	if field, reason := Incompatibility(newS, old); field != "must_have" || !strings.Contains(reason, "default") {
		t.Errorf("Incompatibility = %q, %q", field, reason)
	}
	if field, _ := Incompatibility(old, old); field != "" {
		t.Errorf("a schema is incompatible with itself: %s", field)
	}
}

// The registry answers 503 a few times (down, restarting), then works.
func TestRegisterRetriesWhileRegistryIsDown(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, `{"error_code":50301,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		fake.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	reg := fastRetries(NewRegistry(mustClient(t, srv.URL)))
	id, err := reg.Register(context.Background(), subject, mustLoad(t, "invoices"))
	if err != nil {
		t.Fatalf("Register after 3 x 503: %v", err)
	}
	if got, ok := fake.GetSchema(subject, 1); !ok || got.ID != id {
		t.Errorf("registered %v, id %d", got, id)
	}
	if calls.Load() < 5 {
		t.Errorf("%d requests; want 3 failures, then list and create", calls.Load())
	}
}

func TestRegisterGivesUpWithCtx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	reg := fastRetries(NewRegistry(mustClient(t, srv.URL)))
	// Long enough for a loaded machine to get at least one 502 back.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := reg.Register(ctx, subject, mustLoad(t, "invoices"))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "502") {
		t.Errorf("err = %v; want the deadline and the last registry error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("retries outlived ctx")
	}
}

func TestRegisterDoesNotRetryClientErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error_code":401,"message":"unauthorized"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	reg := fastRetries(NewRegistry(mustClient(t, srv.URL)))
	if _, err := reg.Register(context.Background(), subject, mustLoad(t, "invoices")); err == nil {
		t.Fatal("no error")
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests for a 401; want 1", calls.Load())
	}
}

// The value is Confluent wire format: sr.Serde decodes it with the id.
func TestWireFormat(t *testing.T) {
	_, reg, _ := fakeRegistry(t)
	tb := mustLoad(t, "invoices")
	id, err := reg.Register(context.Background(), subject, tb)
	if err != nil {
		t.Fatal(err)
	}
	raw := fixtureRecords(t, "invoices")[0]
	bin, _, err := tb.Append(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	value := AppendValue(nil, id, bin)
	streamed, _, _ := tb.Append(AppendHeader(nil, id), raw)
	if string(streamed) != string(value) {
		t.Error("AppendHeader+Append differs from AppendValue")
	}
	var serde sr.Serde
	serde.Register(id, map[string]any{}, sr.DecodeFn(func(b []byte, v any) error {
		return avro.Unmarshal(tb.Schema(), b, v)
	}))
	var got map[string]any
	if err := serde.Decode(value, &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != int64(92010) || got["invoice_number"] != "INV-2016-0042" {
		t.Errorf("decoded %v %v", got["id"], got["invoice_number"])
	}
	if value[0] != 0 || int(value[1])<<24|int(value[2])<<16|int(value[3])<<8|int(value[4]) != id {
		t.Errorf("header % x", value[:5])
	}
}
