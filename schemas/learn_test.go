package schemas

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// A record with custom fields of every kind, keys a newer Coupa release
// added, and a line with custom fields of its own.
const everyKind = `{"id":7,"updated-at":"2026-01-02T03:04:05-08:00",
 "custom-fields":{"cost-center":"CC-1","approved-by-finance":true,"headcount":12,"hours-estimate":7.5,
   "service-start-date":"2026-02-01","contract-signed-at":"2026-01-31T10:00:00+01:00",
   "gl-segment":{"id":44,"name":"4000","external-ref-num":"X-1","active":true},
   "budget-owner":{"id":9,"login":"ann","email":"ann@example.com","firstname":"Ann"},
   "tags":["a","b"],"empty":null},
 "esg-category":"green","ai-risk-score":"12.5","source-system-revision":3,
 "sustainability-metadata":{"source":"erp","batch":12,"more":{"x":1}},
 "invoice-lines":[{"id":700,"custom-fields":{"project-code":"P-9","billable":false}}]}`

func learnAll(t *testing.T, tb *Table, raw string) *Table {
	t.Helper()
	for range 3 {
		_, st, err := tb.AppendStats(nil, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if st.Untyped == 0 {
			return tb
		}
		next, err := tb.Learn([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if next == tb {
			t.Fatalf("%d untyped values, yet Learn learned nothing", st.Untyped)
		}
		tb = next
	}
	t.Fatal("still untyped after three rounds")
	return nil
}

func decodeMap(t *testing.T, s avro.Schema, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := avro.Unmarshal(s, b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func union(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, inner := range m {
			return inner
		}
	}
	return v
}

func TestLearnTypesEveryKind(t *testing.T) {
	base := mustLoad(t, "invoices")
	_, st, err := base.AppendStats(nil, []byte(everyKind))
	if err != nil {
		t.Fatal(err)
	}
	// 8 custom fields + 4 new keys on the header, 2 custom fields on the line.
	if st.Untyped != 14 {
		t.Fatalf("base schema: %d untyped values, want 14", st.Untyped)
	}
	learned := learnAll(t, base, everyKind)
	if !learned.Learned() || learned.Base() != base {
		t.Fatal("Learned/Base do not say what the table learned from")
	}
	bin, st, err := learned.AppendStats(nil, []byte(everyKind))
	if err != nil || st.Untyped != 0 || st.Conflicts != 0 {
		t.Fatalf("learned schema: %+v, %v", st, err)
	}
	// Only the array (a custom field) and the nested object inside a new
	// key stay untyped: the custom array in custom_fields, the object in
	// the new record's own extra.
	if st.Extra != 1 {
		t.Errorf("extra = %d, want 1 (sustainability-metadata.more)", st.Extra)
	}
	m := decodeMap(t, learned.Schema(), bin)
	if m["extra"] != nil {
		t.Errorf("top-level extra = %v, want nothing: every new key has a typed home", m["extra"])
	}
	if m["esg_category"] != "green" || m["ai_risk_score"] != "12.5" || m["source_system_revision"] != int64(3) {
		t.Errorf("promoted fields: %v %v %v", m["esg_category"], m["ai_risk_score"], m["source_system_revision"])
	}
	c := union(m["custom"]).(map[string]any)
	want := map[string]any{
		"cost_center": "CC-1", "approved_by_finance": true, "headcount": int64(12), "hours_estimate": 7.5,
		"service_start_date": time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		"contract_signed_at": time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC),
	}
	for k, w := range want {
		got := union(c[k])
		if tm, ok := got.(time.Time); ok {
			got = tm.UTC()
		}
		if got != w {
			t.Errorf("custom.%s = %#v, want %#v", k, got, w)
		}
	}
	gl := union(c["gl_segment"]).(map[string]any)
	if union(gl["id"]) != int64(44) || union(gl["name"]) != "4000" || union(gl["external_ref_num"]) != "X-1" {
		t.Errorf("custom.gl_segment = %v", gl)
	}
	if _, ok := gl["active"]; ok {
		t.Errorf("a lookup keeps its identifying keys only: %v", gl)
	}
	owner := union(c["budget_owner"]).(map[string]any)
	if union(owner["login"]) != "ann" || union(owner["email"]) != "ann@example.com" {
		t.Errorf("custom.budget_owner = %v", owner)
	}
	if _, ok := c["tags"]; ok {
		t.Error("an array custom field got a typed field")
	}
	line := union(m["invoice_lines"]).([]any)[0].(map[string]any)
	lc := union(line["custom"]).(map[string]any)
	if union(lc["project_code"]) != "P-9" || union(lc["billable"]) != false {
		t.Errorf("line custom = %v", lc)
	}
	// The Coupa JSON is the same through either schema: the view adds
	// nothing ToJSON shows, and nothing is lost.
	baseBin, _, _ := base.Append(nil, []byte(everyKind))
	a, err := base.ToJSON(baseBin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := learned.ToJSON(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, a, b) {
		t.Errorf("ToJSON differs:\nbase    %s\nlearned %s", a, b)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// Each learned schema reads what every earlier one wrote, and Adopt gives
// back exactly the schema from its registered text.
func TestLearnEvolvesCompatiblyAndIsAdopted(t *testing.T) {
	base := mustLoad(t, "invoices")
	v1 := learnAll(t, base, `{"id":1,"custom-fields":{"headcount":3}}`)
	old, _, err := v1.Append(nil, []byte(`{"id":1,"custom-fields":{"headcount":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	// A fraction widens the integer, a new key and a new identity key of a
	// lookup are added.
	v2 := learnAll(t, v1, `{"id":2,"custom-fields":{"headcount":2.5,"gl":{"id":1}}}`)
	v3 := learnAll(t, v2, `{"id":3,"custom-fields":{"gl":{"id":1,"name":"A"}},"esg-category":"x"}`)
	chain := []*Table{base, v1, v2, v3}
	for i, newer := range chain {
		for _, older := range chain[:i] {
			if f, why := Incompatibility(newer.Schema(), older.Schema()); f != "" {
				t.Errorf("version %d cannot read an older one: %s: %s", i, f, why)
			}
		}
	}
	resolved, err := avro.NewSchemaCompatibility().Resolve(v3.Schema(), v1.Schema())
	if err != nil {
		t.Fatal(err)
	}
	m := decodeMap(t, resolved, old)
	if got := union(union(m["custom"]).(map[string]any)["headcount"]); got != 3.0 {
		t.Errorf("old headcount read with the widened schema = %#v, want 3.0", got)
	}
	adopted, err := base.Adopt(v3.SchemaText())
	if err != nil {
		t.Fatal(err)
	}
	if adopted.SchemaText() != v3.SchemaText() {
		t.Errorf("Adopt does not give back the registered schema:\n%s\n%s", adopted.SchemaText(), v3.SchemaText())
	}
	if same, _ := base.Adopt(base.SchemaText()); same != base {
		t.Error("adopting the generated schema made a new table")
	}
	// A learned table adopts from its base, not on top of itself.
	if again, _ := v3.Adopt(v1.SchemaText()); again.SchemaText() != v1.SchemaText() {
		t.Error("Adopt kept fields the registered schema lacks")
	}
}

// A value whose type conflicts with the learned one is kept in
// custom_fields (or extra), counted, and never breaks the record.
func TestLearnedTypeConflictIsKeptAndCounted(t *testing.T) {
	tb := learnAll(t, mustLoad(t, "invoices"), `{"id":1,"custom-fields":{"cost-center":"CC-1"},"esg-category":"green"}`)
	raw := `{"id":2,"custom-fields":{"cost-center":{"id":5}},"esg-category":[1]}`
	bin, st, err := tb.AppendStats(nil, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if st.Conflicts != 2 || st.Untyped != 0 {
		t.Fatalf("stats %+v, want 2 conflicts and nothing to learn", st)
	}
	m := decodeMap(t, tb.Schema(), bin)
	if union(m["custom_fields"]).(map[string]any)["cost-center"] != `{"id":5}` {
		t.Errorf("custom_fields lost the conflicting value: %v", m["custom_fields"])
	}
	if union(m["extra"]).(map[string]any)["esg-category"] != `[1]` {
		t.Errorf("extra lost the conflicting value: %v", m["extra"])
	}
	if c := union(union(m["custom"]).(map[string]any)["cost_center"]); c != nil {
		t.Errorf("custom.cost_center = %v, want null", c)
	}
	if next, err := tb.Learn([]byte(raw)); err != nil || next != tb {
		t.Errorf("a conflict changed the schema (%v)", err)
	}
}

// The line topic's schema learns the same way (its top level is a line).
func TestLearnLineTopic(t *testing.T) {
	tb := learnAll(t, mustLoad(t, "invoice_lines"), `{"id":1,"custom-fields":{"project-code":"P"}}`)
	if !strings.Contains(tb.SchemaText(), `"project_code"`) {
		t.Error("the line topic's schema did not learn its custom field")
	}
}

// The same JSON hashes alike under every version that types all of it, and
// a change anywhere changes the hash.
func TestContentHashIgnoresWhatEvolutionAdds(t *testing.T) {
	base := mustLoad(t, "invoices")
	v1 := learnAll(t, base, `{"id":1,"custom-fields":{"cost-center":"A"},"esg-category":"x","invoice-lines":[{"id":9,"custom-fields":{"p":1}}]}`)
	v2 := learnAll(t, v1, `{"id":1,"custom-fields":{"hours":1,"cost-center":"A"},"risk":"y"}`)
	hash := func(tb *Table, raw string) uint64 {
		t.Helper()
		bin, st, err := tb.AppendStats(nil, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if st.Untyped != 0 && tb != base {
			t.Fatalf("%s: %d untyped", raw, st.Untyped)
		}
		h, err := tb.ContentHash(bin)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	same := `{"id":1,"custom-fields":{"cost-center":"A"},"esg-category":"x","invoice-lines":[{"id":9,"custom-fields":{"p":1}}]}`
	if a, b := hash(v1, same), hash(v2, same); a != b {
		t.Error("the same JSON hashes differently under a later version")
	}
	plain := `{"id":1,"status":"draft"}`
	if a, b := hash(base, plain), hash(v2, plain); a != b {
		t.Error("JSON without custom fields hashes differently once the schema learned some")
	}
	for _, changed := range []string{
		`{"id":1,"custom-fields":{"cost-center":"B"},"esg-category":"x","invoice-lines":[{"id":9,"custom-fields":{"p":1}}]}`,
		`{"id":1,"custom-fields":{"cost-center":"A"},"esg-category":"z","invoice-lines":[{"id":9,"custom-fields":{"p":1}}]}`,
		`{"id":1,"custom-fields":{"cost-center":"A"},"esg-category":"x","invoice-lines":[{"id":9,"custom-fields":{"p":2}}]}`,
	} {
		if hash(v2, changed) == hash(v2, same) {
			t.Errorf("a change does not change the hash: %s", changed)
		}
	}
	if _, err := v2.ContentHash([]byte{2}); err == nil {
		t.Error("a truncated value hashed without an error")
	}
}

// A key the schema lacks that is null waits in extra (a null teaches no
// type) until a later version learns the key from another record; the
// same JSON then has a learned field that is null instead. Both hash
// alike, and so does a value that does not fit a learned field, which
// joins extra after the keys the schema lacks: a record converted by a
// worker just before another registered a version is not new content
// when it is read again.
func TestContentHashOfNullKeysLearnedLater(t *testing.T) {
	base := mustLoad(t, "invoices")
	v1 := learnAll(t, base, `{"id":1,"esg-category":"x","invoice-lines":[{"id":9,"custom-fields":{"p":1}}]}`)
	v2 := learnAll(t, v1, `{"id":2,"risk":"y","score":3,"invoice-lines":[{"id":8,"line-risk":3}]}`)
	hash := func(tb *Table, raw string) uint64 {
		t.Helper()
		bin, _, err := tb.AppendStats(nil, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		h, err := tb.ContentHash(bin)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, same := range []string{
		`{"id":1,"risk":null,"esg-category":"x","invoice-lines":[{"id":9,"line-risk":null,"custom-fields":{"p":1}}]}`,
		`{"id":1,"risk":null,"tags":["a"],"invoice-lines":[{"id":9,"line-risk":null,"notes":[1]}]}`,
		`{"id":1,"score":"abc","tags":["a"]}`, // v1: score untyped; v2: a misfit
	} {
		if a, b := hash(v1, same), hash(v2, same); a != b {
			t.Errorf("the same JSON hashes differently once a later version learned its null keys: %s", same)
		}
	}
	null := `{"id":1,"risk":null,"tags":["a"],"invoice-lines":[{"id":9,"line-risk":null}]}`
	for _, changed := range []string{
		`{"id":1,"risk":"z","tags":["a"],"invoice-lines":[{"id":9,"line-risk":null}]}`,
		`{"id":1,"risk":null,"tags":["b"],"invoice-lines":[{"id":9,"line-risk":null}]}`,
		`{"id":1,"risk":null,"tags":["a"],"invoice-lines":[{"id":9,"line-risk":null,"notes":[1]}]}`,
		`{"id":1,"risk":null,"tags":"a","invoice-lines":[{"id":9,"line-risk":null}]}`,
		`{"id":1,"risk":null,"gat":["a"],"invoice-lines":[{"id":9,"line-risk":null}]}`,
	} {
		for _, tb := range []*Table{v1, v2} {
			if hash(tb, changed) == hash(tb, null) {
				t.Errorf("a change does not change the hash: %s", changed)
			}
		}
	}
}

// The schema depends on what was learned, not on the order: two processes
// that learned the same fields from records in another order register
// one version.
func TestLearnedSchemaIsIndependentOfOrder(t *testing.T) {
	a := `{"id":1,"custom-fields":{"zeta":"z","gl":{"id":1}},"new-b":"x"}`
	b := `{"id":2,"custom-fields":{"alpha":true,"gl":{"id":2,"name":"n"}},"new-a":3}`
	base := mustLoad(t, "invoices")
	ab := learnAll(t, learnAll(t, base, a), b)
	ba := learnAll(t, learnAll(t, base, b), a)
	if ab.SchemaText() != ba.SchemaText() {
		t.Errorf("learning a then b and b then a give two schemas:\n%s\n%s", ab.SchemaText(), ba.SchemaText())
	}
}
