package schemas

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// decoded converts raw with Append and decodes the result with hamba into
// field name -> value (nullable complex branches unwrapped).
func decoded(t *testing.T, tb *Table, raw string) (map[string]any, int) {
	t.Helper()
	bin, n, err := tb.Append(nil, []byte(raw))
	if err != nil {
		t.Fatalf("Append(%s): %v", raw, err)
	}
	var v any
	if err := avro.Unmarshal(tb.Schema(), bin, &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return unwrapAll(tb.root, v.(map[string]any)), n
}

func unwrapAll(rp *recordPlan, m map[string]any) map[string]any {
	for fi := range rp.fields {
		f := &rp.fields[fi]
		if v := m[f.name]; v != nil && f.nullable {
			v = unwrapUnion(f, fi == rp.extra, v)
			if f.kind == kRecord {
				v = unwrapAll(f.rec, v.(map[string]any))
			}
			m[f.name] = v
		}
	}
	return m
}

func mustLoad(t testing.TB, table string) *Table {
	t.Helper()
	tb, err := Load(table)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// TestValueMapping is the table of what fits each Avro type and what is
// kept in extra instead. want == nil means "kept in extra, field null".
func TestValueMapping(t *testing.T) {
	tb := mustLoad(t, "invoices")
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v.UTC() }
	cases := []struct {
		key, field, json string
		want             any
	}{
		// integer -> long
		{"lock-version-key", "lock_version_key", `7`, int64(7)},
		{"lock-version-key", "lock_version_key", `-9223372036854775808`, int64(-9223372036854775808)},
		{"lock-version-key", "lock_version_key", `9223372036854775807`, int64(9223372036854775807)},
		{"lock-version-key", "lock_version_key", `9223372036854775808`, nil},
		{"lock-version-key", "lock_version_key", `"7"`, nil},
		{"lock-version-key", "lock_version_key", `1.5`, nil},
		{"lock-version-key", "lock_version_key", `1e2`, nil},
		{"lock-version-key", "lock_version_key", `1.0`, nil},
		{"lock-version-key", "lock_version_key", `true`, nil},
		// boolean
		{"paid", "paid", `true`, true},
		{"paid", "paid", `false`, false},
		{"paid", "paid", `"false"`, nil},
		{"paid", "paid", `0`, nil},
		// float -> double, only when the number comes back exactly
		{"discount-percent", "discount_percent", `34.95`, 34.95},
		{"discount-percent", "discount_percent", `0.0`, 0.0},
		{"discount-percent", "discount_percent", `-0.5`, -0.5},
		{"discount-percent", "discount_percent", `100`, 100.0},
		{"discount-percent", "discount_percent", `1e2`, 100.0},
		{"discount-percent", "discount_percent", `0.30000000000000004`, 0.30000000000000004},
		{"discount-percent", "discount_percent", `0.1000000000000000055511151231257827`, nil},
		{"discount-percent", "discount_percent", `123456789012345678`, nil},
		{"discount-percent", "discount_percent", `1e400`, nil},
		{"discount-percent", "discount_percent", `1e-400`, nil},
		{"discount-percent", "discount_percent", `4e-320`, nil},
		{"discount-percent", "discount_percent", `"34.95"`, nil},
		// string (string(255), text, date, "int" format ... all strings)
		{"status", "status", `"approved"`, "approved"},
		{"status", "status", `""`, ""},
		{"status", "status", `"caf\u00e9 \"q\" \ud83d\ude00 \\ \/"`, "café \"q\" 😀 \\ /"},
		{"status", "status", `"lone \ud800"`, nil},
		{"status", "status", `5`, nil},
		{"status", "status", `{"a":1}`, nil},
		{"status", "status", `["a"]`, nil},
		{"line-count", "line_count", `"2"`, "2"},
		{"line-count", "line_count", `2`, nil},
		// datetime -> timestamp-millis UTC
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46-07:00"`, ts("2016-10-07T13:59:46Z")},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46+05:30"`, ts("2016-10-07T01:29:46Z")},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46Z"`, ts("2016-10-07T06:59:46Z")},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46.123Z"`, ts("2016-10-07T06:59:46.123Z")},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46.5-01:00"`, ts("2016-10-07T07:59:46.5Z")},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46.123000Z"`, ts("2016-10-07T06:59:46.123Z")},
		{"invoice-date", "invoice_date", `"1969-12-31T23:59:59Z"`, ts("1969-12-31T23:59:59Z")},
		{"invoice-date", "invoice_date", `"0001-01-01T00:00:00Z"`, ts("0001-01-01T00:00:00Z")},
		{"invoice-date", "invoice_date", `"2024-02-29T00:00:00Z"`, ts("2024-02-29T00:00:00Z")},
		{"invoice-date", "invoice_date", `"0000-01-01T00:00:00-01:00"`, ts("0000-01-01T01:00:00Z")},
		{"invoice-date", "invoice_date", `"9999-12-31T23:59:59+01:00"`, ts("9999-12-31T22:59:59Z")},
		{"invoice-date", "invoice_date", `"0000-01-01T00:00:00+01:00"`, nil}, // year -1 in UTC
		{"invoice-date", "invoice_date", `"9999-12-31T23:59:59-01:00"`, nil}, // year 10000 in UTC
		{"invoice-date", "invoice_date", `"2023-02-29T00:00:00Z"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46.1234Z"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07 06:59:46Z"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07t06:59:46z"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07T24:00:00Z"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07T23:59:60Z"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07T06:59:46+0700"`, nil},
		{"invoice-date", "invoice_date", `"2016-10-07"`, nil},
		{"invoice-date", "invoice_date", `1475848786`, nil},
		// decimal(38,10) (bare decimal)
		{"gross-total", "gross_total", `"567.07"`, rat("567.07")},
		{"gross-total", "gross_total", `"-120.5"`, rat("-120.5")},
		{"gross-total", "gross_total", `"100"`, rat("100")},
		{"gross-total", "gross_total", `"0"`, rat("0")},
		{"gross-total", "gross_total", `"-0"`, rat("0")},
		{"gross-total", "gross_total", `"-0.0000000001"`, rat("-0.0000000001")},
		{"gross-total", "gross_total", `"0001.50"`, rat("1.5")},
		{"gross-total", "gross_total", `"0.10000000000000"`, rat("0.1")},
		{"gross-total", "gross_total", `"1234567890123456789012345678.5"`, rat("1234567890123456789012345678.5")},
		{"gross-total", "gross_total", `"-9999999999999999999999999999.9999999999"`, rat("-9999999999999999999999999999.9999999999")},
		{"gross-total", "gross_total", `"12345678901234567890123456789.5"`, nil}, // 39 digits
		{"gross-total", "gross_total", `"0.00000000001"`, nil},                   // 11th fraction digit
		{"gross-total", "gross_total", `"1e3"`, nil},
		{"gross-total", "gross_total", `"1.5E3"`, nil},
		{"gross-total", "gross_total", `"+1"`, nil},
		{"gross-total", "gross_total", `".5"`, nil},
		{"gross-total", "gross_total", `"1."`, nil},
		{"gross-total", "gross_total", `""`, nil},
		{"gross-total", "gross_total", `" 1"`, nil},
		{"gross-total", "gross_total", `"1,000.00"`, nil},
		{"gross-total", "gross_total", `"NaN"`, nil},
		{"gross-total", "gross_total", `"-"`, nil},
		{"gross-total", "gross_total", `"\u0031"`, nil},
		{"gross-total", "gross_total", `567.07`, nil},
		// decimal(30,9)
		{"exchange-rate", "exchange_rate", `"0.917431193"`, rat("0.917431193")},
		{"exchange-rate", "exchange_rate", `"0.9174311935"`, nil},
		{"exchange-rate", "exchange_rate", `"123456789012345678901"`, rat("123456789012345678901")},
		{"exchange-rate", "exchange_rate", `"1234567890123456789012"`, nil}, // 22+9 > 30
		// decimal(46,20) capped to decimal(38,20): 18 integer digits
		{"amount-of-advance-payment", "amount_of_advance_payment", `"123456789012345678.12345678901234567890"`, rat("123456789012345678.12345678901234567890")},
		{"amount-of-advance-payment", "amount_of_advance_payment", `"-123456789012345678.12345678901234567890"`, rat("-123456789012345678.12345678901234567890")},
		{"amount-of-advance-payment", "amount_of_advance_payment", `"-0.00000000000000000001"`, rat("-0.00000000000000000001")},
		{"amount-of-advance-payment", "amount_of_advance_payment", `"1234567890123456789.1"`, nil},
		{"amount-of-advance-payment", "amount_of_advance_payment", `"0.000000000000000000001"`, nil},
		// decimal(30,4)
		{"advance-payment-received-amount", "advance_payment_received_amount", `"-32768.0001"`, rat("-32768.0001")},
		{"advance-payment-received-amount", "advance_payment_received_amount", `"12.34567"`, nil},
	}
	for _, c := range cases {
		raw := `{"id":1,"` + c.key + `":` + c.json + `}`
		m, n := decoded(t, tb, raw)
		got := m[c.field]
		if c.want == nil {
			ex, _ := m["extra"].(map[string]any)
			if got != nil || n != 1 || ex[c.key] != c.json {
				t.Errorf("%s: got field %v, %d extra %v; want it kept in extra", raw, got, n, ex)
			}
			continue
		}
		if n != 0 {
			t.Errorf("%s: %d values in extra (%v)", raw, n, m["extra"])
		}
		switch w := c.want.(type) {
		case *big.Rat:
			if g, ok := got.(*big.Rat); !ok || g.Cmp(w) != 0 {
				t.Errorf("%s: got %v, want %v", raw, got, w.RatString())
			}
		case time.Time:
			if g, ok := got.(time.Time); !ok || !g.Equal(w) {
				t.Errorf("%s: got %v, want %v", raw, got, w)
			}
		default:
			if got != c.want {
				t.Errorf("%s: got %#v, want %#v", raw, got, c.want)
			}
		}
	}
}

func TestNullAndAbsent(t *testing.T) {
	tb := mustLoad(t, "invoices")
	a, _, _ := tb.Append(nil, []byte(`{"id":1}`))
	b, _, _ := tb.Append(nil, []byte(`{"id":1,"status":null,"supplier":null,"invoice-lines":null,"custom-fields":null}`))
	if string(a) != string(b) {
		t.Error("an explicit null and an absent key encode differently")
	}
}

// Associations keep their identifying fields; the rest of the object, and
// identifying fields of the wrong type, go to the association's own extra.
func TestAssociations(t *testing.T) {
	tb := mustLoad(t, "invoices")
	m, n := decoded(t, tb, `{"id":1,"supplier":{"id":4,"name":"Acme","number":null,"display-name":"A","tags":[1]},"created-by":{"id":"15","login":"jdoe"}}`)
	sup := m["supplier"].(map[string]any)
	if sup["id"] != int64(4) || sup["name"] != "Acme" || sup["number"] != nil {
		t.Errorf("supplier = %v", sup)
	}
	if ex := sup["extra"].(map[string]any); ex["display-name"] != `"A"` || ex["tags"] != `[1]` || len(ex) != 2 {
		t.Errorf("supplier extra = %v", ex)
	}
	cb := m["created_by"].(map[string]any)
	if cb["id"] != nil || cb["login"] != "jdoe" || cb["extra"].(map[string]any)["id"] != `"15"` {
		t.Errorf("created_by = %v", cb)
	}
	if n != 3 {
		t.Errorf("extra count %d, want 3", n)
	}
	for _, v := range []string{`"Acme"`, `[]`, `4`, `true`} {
		m, n := decoded(t, tb, `{"id":1,"supplier":`+v+`}`)
		if m["supplier"] != nil || n != 1 || m["extra"].(map[string]any)["supplier"] != v {
			t.Errorf("supplier %s: %v", v, m)
		}
	}
}

// An array is all or nothing: one element that does not fit keeps the
// whole array, as sent, in extra.
func TestArrays(t *testing.T) {
	tb := mustLoad(t, "invoices")
	m, n := decoded(t, tb, `{"id":1,"tags":[],"taggings":[{"id":1},{"id":2,"x":3}]}`)
	if a := m["tags"].([]any); len(a) != 0 || n != 1 {
		t.Errorf("tags = %v, extra %d", m["tags"], n)
	}
	if a := m["taggings"].([]any); len(a) != 2 {
		t.Errorf("taggings = %v", a)
	}
	for _, v := range []string{`{"id":1}`, `[1]`, `[{"id":1},null]`, `[{"id":1},"x"]`, `"[]"`} {
		m, n := decoded(t, tb, `{"id":1,"taggings":`+v+`}`)
		if m["taggings"] != nil || n != 1 || m["extra"].(map[string]any)["taggings"] != v {
			t.Errorf("taggings %s: %v, %d", v, m, n)
		}
	}
	// Rolled back element extras are not counted.
	_, n = decoded(t, tb, `{"id":1,"taggings":[{"id":1,"a":1,"b":2},7]}`)
	if n != 1 {
		t.Errorf("extra count %d, want 1 (the array only)", n)
	}
}

func TestLines(t *testing.T) {
	tb := mustLoad(t, "invoices")
	m, n := decoded(t, tb, `{"id":1,"invoice-lines":[{"id":10,"line-num":1,"total":"5.5","account":{"id":7,"code":"A"},"custom-fields":{"x":1},"new-line-key":"v"}]}`)
	lines := m["invoice_lines"].([]any)
	l := unwrapAll(tb.root.fields[tb.root.byKey["invoice-lines"]].items.rec, lines[0].(map[string]any))
	if l["id"] != int64(10) || l["line_num"] != int64(1) || l["total"].(*big.Rat).Cmp(rat("5.5")) != 0 {
		t.Errorf("line = %v", l)
	}
	if l["account"].(map[string]any)["code"] != "A" || l["custom_fields"].(map[string]any)["x"] != "1" {
		t.Errorf("line = %v", l)
	}
	if l["extra"].(map[string]any)["new-line-key"] != `"v"` || n != 1 {
		t.Errorf("line extra = %v, count %d", l["extra"], n)
	}
}

func TestCustomFields(t *testing.T) {
	tb := mustLoad(t, "invoices")
	m, n := decoded(t, tb, `{"id":1,"custom-fields":{"cost-center":"CC-1","flag":true,"n":null,"list":[1, 2],"obj":{"a":"b"}}}`)
	cf := m["custom_fields"].(map[string]any)
	want := map[string]string{"cost-center": `"CC-1"`, "flag": "true", "n": "null", "list": "[1, 2]", "obj": `{"a":"b"}`}
	for k, v := range want {
		if cf[k] != v {
			t.Errorf("custom_fields[%q] = %v, want %s", k, cf[k], v)
		}
	}
	if n != 0 || len(cf) != len(want) {
		t.Errorf("custom_fields = %v, extra %d", cf, n)
	}
	for _, v := range []string{`"x"`, `[]`, `{"a":1,"a":2}`} {
		m, n := decoded(t, tb, `{"id":1,"custom-fields":`+v+`}`)
		if m["custom_fields"] != nil || n != 1 || m["extra"].(map[string]any)["custom-fields"] != v {
			t.Errorf("custom-fields %s: %v", v, m)
		}
	}
}

// Keys with '?' map to "_q" fields and back (users' "active?").
func TestRenamedKeys(t *testing.T) {
	tb := mustLoad(t, "users")
	raw := `{"id":1,"active?":true,"login":"jdoe"}`
	m, n := decoded(t, tb, raw)
	if m["active_q"] != true || n != 0 {
		t.Errorf("active_q = %v, extra %d", m["active_q"], n)
	}
	if _, err := roundTrip(tb, []byte(raw)); err != nil {
		t.Error(err)
	}
}

// Untyped OpenAPI properties (an approval's polymorphic approver) keep the
// JSON text of whatever Coupa sends.
func TestUntypedJSONFields(t *testing.T) {
	tb := mustLoad(t, "approvals")
	raw := `{"id":1,"approver":{"id":15,"login":"jdoe","type":"User"},"delegate":"x"}`
	m, n := decoded(t, tb, raw)
	if m["approver"] != `{"id":15,"login":"jdoe","type":"User"}` || m["delegate"] != `"x"` || n != 0 {
		t.Errorf("approver = %v, delegate = %v, extra %d", m["approver"], m["delegate"], n)
	}
	if _, err := roundTrip(tb, []byte(raw)); err != nil {
		t.Error(err)
	}
}

func TestUnknownKeys(t *testing.T) {
	tb := mustLoad(t, "invoices")
	raw := `{"id":1,"r40-field":{"a":[1,2.50,"x"]},"":"empty key","extra":"a Coupa key named extra","k\u00e9y\n":null}`
	m, n := decoded(t, tb, raw)
	ex := m["extra"].(map[string]any)
	if n != 4 || ex["r40-field"] != `{"a":[1,2.50,"x"]}` || ex[""] != `"empty key"` || ex["extra"] != `"a Coupa key named extra"` || ex["kéy\n"] != "null" {
		t.Errorf("extra = %v, count %d", ex, n)
	}
	if _, err := roundTrip(tb, []byte(raw)); err != nil {
		t.Error(err)
	}
}

func TestRefused(t *testing.T) {
	tb := mustLoad(t, "invoices")
	cases := map[string]string{
		``:                                    "not a JSON object",
		`[]`:                                  "not a JSON object",
		`null`:                                "not a JSON object",
		`"x"`:                                 "not a JSON object",
		`{`:                                   "invalid JSON",
		`{"id":1,}`:                           "invalid JSON",
		`{"id":1} x`:                          "invalid JSON",
		`{"id":1}{"id":2}`:                    "invalid JSON",
		`{"id":1,"a":tru}`:                    "invalid JSON",
		`{"id":1,"a":"\x"}`:                   "invalid JSON",
		`{"id":1,"a":01}`:                     "invalid JSON",
		`{"id":1,"a":"` + "\x01\"}":           "invalid JSON",
		`{"id":1,"id":2}`:                     "duplicate key",
		`{"id":1,"x":1,"x":2}`:                "duplicate key",
		`{"id":1,"supplier":{"id":1,"id":1}}`: "duplicate key",
		`{"status":"x"}`:                      `"id" is missing`,
		`{"id":null}`:                         `"id" is missing`,
		`{"id":"1"}`:                          `not a integer`,
		`{"id":1.5}`:                          `not a integer`,
		"{\"id\":1,\"a\":\"\xff\"}":           "UTF-8",
		`{"id":1,"a":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`: "nested too deeply",
	}
	for raw, want := range cases {
		dst := []byte("keep")
		out, n, err := tb.Append(dst, []byte(raw))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: err %v, want it to mention %q", raw, err, want)
		}
		if string(out) != "keep" || n != 0 {
			t.Errorf("%.60s: dst changed to %q", raw, out)
		}
	}
}

// Many-key duplicate detection (the sorted path) for association payloads.
func TestDuplicateAmongManyUnknownKeys(t *testing.T) {
	tb := mustLoad(t, "invoices")
	var b strings.Builder
	b.WriteString(`{"id":1`)
	for i := 0; i < 20; i++ {
		b.WriteString(`,"k` + string(rune('a'+i)) + `":1`)
	}
	ok := b.String() + `}`
	if _, _, err := tb.Append(nil, []byte(ok)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Append(nil, []byte(b.String()+`,"kc":2}`)); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("err = %v", err)
	}
}

// Append appends: what dst held is kept.
func TestAppendAppends(t *testing.T) {
	tb := mustLoad(t, "invoices")
	alone, _, _ := tb.Append(nil, []byte(`{"id":5}`))
	out, _, err := tb.Append([]byte("prefix"), []byte(`{"id":5}`))
	if err != nil || string(out) != "prefix"+string(alone) {
		t.Errorf("out = %q, err %v", out, err)
	}
}

// The round-trip comparison itself must catch a difference.
func TestRoundTripCheckerCatchesLoss(t *testing.T) {
	tb := mustLoad(t, "invoices")
	orig := map[string]any{"id": "1", "gross-total": "1.5", "supplier": map[string]any{"id": "4", "x": "y"}}
	for _, got := range []map[string]any{
		{"id": "1", "gross-total": "1.50001", "supplier": map[string]any{"id": "4", "x": "y"}},
		{"id": "1", "gross-total": "1.5", "supplier": map[string]any{"id": "4"}},
		{"id": "1", "gross-total": "1.5"},
	} {
		if sameRecord(tb.root, orig, got, "") == nil {
			t.Errorf("checker accepted %v for %v", got, orig)
		}
	}
}
