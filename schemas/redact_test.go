package schemas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// publish converts raw as coupa-kafka would publish it under r (nil: the
// defaults) and returns the Avro bytes and the record decoded back to
// Coupa's JSON (Coupa's keys; null fields omitted).
func publish(t *testing.T, table string, r *schemas.Redaction, raw []byte) ([]byte, map[string]any) {
	t.Helper()
	tb, err := schemas.Published(table, r)
	if err != nil {
		t.Fatal(err)
	}
	bin, _, err := tb.Append(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	back, err := tb.ToJSON(bin)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(back, &m); err != nil {
		t.Fatal(err)
	}
	return bin, m
}

func simRecord(t *testing.T, table string) []byte {
	t.Helper()
	sim := coupatest.NewTLS(t, coupatest.Config{Seed: 1, Records: map[string]int{table: 1}})
	for _, r := range sim.Truth(table) {
		return r.JSON
	}
	t.Fatal("no record")
	return nil
}

// Credentials never reach Kafka, whatever is configured, and tax ids are
// masked by default: checked on the simulator's supplier (which, like
// Coupa, returns cxml-http-password) and a user carrying a password.
func TestCredentialsNeverPublished(t *testing.T) {
	sup := simRecord(t, "suppliers")
	var orig map[string]any
	json.Unmarshal(sup, &orig)
	secret, _ := orig["cxml-http-password"].(string)
	taxID, _ := orig["tax-id"].(string)
	if secret == "" || taxID == "" {
		t.Fatalf("the simulator's supplier has no cxml-http-password or tax-id: %s", sup)
	}
	for name, r := range map[string]*schemas.Redaction{"defaults": nil, "nothing configured": {}} {
		bin, got := publish(t, "suppliers", r, sup)
		if got["cxml-http-password"] != nil || bytes.Contains(bin, []byte(secret)) {
			t.Errorf("%s: the cxml password reached the Avro value (%v)", name, got["cxml-http-password"])
		}
		if r == nil && (got["tax-id"] != schemas.Mask || bytes.Contains(bin, []byte(taxID))) {
			t.Errorf("%s: tax_id %v, want %q", name, got["tax-id"], schemas.Mask)
		}
		if got["name"] != orig["name"] {
			t.Errorf("%s: an unredacted field changed: %v != %v", name, got["name"], orig["name"])
		}
	}
	user := simRecord(t, "users")
	withPW := append([]byte(`{"password":"hunter2-0451",`), bytes.TrimPrefix(bytes.TrimSpace(user), []byte("{"))...)
	bin, got := publish(t, "users", &schemas.Redaction{}, withPW)
	if got["password"] != nil || bytes.Contains(bin, []byte("hunter2-0451")) {
		t.Errorf("a user's password reached the Avro value")
	}
}

// Configured redactions: excluded fields are null, masked ones "****",
// hashed ones a keyed HMAC that is stable for equal values and differs
// across keys. A null stays null.
func TestConfiguredRedaction(t *testing.T) {
	sup := simRecord(t, "suppliers")
	var orig map[string]any
	json.Unmarshal(sup, &orig)
	r := &schemas.Redaction{Exclude: []string{"name"}, Mask: []string{"tax_id"}, Hash: []string{"number"}, HashKey: "k1"}
	_, a := publish(t, "suppliers", r, sup)
	_, b := publish(t, "suppliers", r, sup)
	r2 := *r
	r2.HashKey = "k2"
	_, c := publish(t, "suppliers", &r2, sup)
	h, _ := a["number"].(string)
	switch {
	case a["name"] != nil:
		t.Errorf("excluded name is %v", a["name"])
	case a["tax-id"] != schemas.Mask:
		t.Errorf("masked tax_id is %v", a["tax-id"])
	case !strings.HasPrefix(h, "hmac-sha256:") || len(h) != len("hmac-sha256:")+64 || strings.Contains(h, orig["number"].(string)):
		t.Errorf("hashed number is %q", h)
	case b["number"] != h:
		t.Errorf("the hash is not stable: %v != %v", b["number"], h)
	case c["number"] == h:
		t.Error("two keys give the same hash")
	}
	nullTax := bytes.Replace(sup, []byte(`"tax-id":"`+orig["tax-id"].(string)+`"`), []byte(`"tax-id":null`), 1)
	if _, got := publish(t, "suppliers", r, nullTax); got["tax-id"] != nil {
		t.Errorf("a null tax_id was published as %v", got["tax-id"])
	}
}

func TestRedactionRefusesWhatItCannotDo(t *testing.T) {
	for _, tc := range []struct {
		r    schemas.Redaction
		want string
	}{
		{schemas.Redaction{Exclude: []string{"no_such_field"}}, `no field "no_such_field"`},
		{schemas.Redaction{Mask: []string{"created_at"}}, "not a string"},
		{schemas.Redaction{Hash: []string{"tax_id"}}, "needs a key"},
		{schemas.Redaction{Mask: []string{"tax_id"}, Hash: []string{"tax_id"}, HashKey: "k"}, "two redactions"},
	} {
		_, err := schemas.Published("suppliers", &tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}

// Payment card numbers inside the pcard association are masked by default;
// the rest of the association (its id) stays usable.
func TestCardNumbersMaskedByDefault(t *testing.T) {
	raw := []byte(`{"id":1,"updated-at":"2024-01-01T00:00:00Z","pcard":{"id":7,"name":"Corp card","number":"4111111111111111"}}`)
	for _, table := range []string{"users", "purchase_orders", "requisitions"} {
		bin, got := publish(t, table, nil, raw)
		card, _ := got["pcard"].(map[string]any)
		if card["number"] != schemas.Mask || card["id"] != float64(7) || bytes.Contains(bin, []byte("4111111111111111")) {
			t.Errorf("%s: pcard published as %v", table, got["pcard"])
		}
	}
	_, got := publish(t, "users", &schemas.Redaction{}, raw)
	if card, _ := got["pcard"].(map[string]any); card["number"] != "4111111111111111" {
		t.Errorf("with the masks configured away, pcard is %v", got["pcard"])
	}
}

// Every table the redaction data names is a catalog table, every default
// publishes, and every key a default mask reaches through extra is one the
// R39 definition of that association has: a typo would silently mask
// nothing.
func TestRedactionDataNamesRealFields(t *testing.T) {
	catalog := map[string]coupa.Table{}
	for _, tb := range coupa.Catalog {
		catalog[tb.Name] = tb
	}
	for _, m := range []map[string][]string{schemas.Credentials, schemas.DefaultMasks} {
		for table := range m {
			if _, ok := catalog[table]; !ok {
				t.Errorf("%s is not a catalog table", table)
			}
		}
	}
	for _, tb := range coupa.Catalog {
		r := schemas.DefaultRedaction(tb.Name)
		if _, err := schemas.Published(tb.Name, &r); err != nil {
			t.Errorf("%s: %v", tb.Name, err)
		}
		for _, path := range r.Mask {
			assoc, key, ok := strings.Cut(path, ".extra.")
			if !ok {
				continue
			}
			doc, def, err := openapi.LoadDefinition(tb.OpenAPIFile, tb.Definition)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := def.Property(strings.ReplaceAll(assoc, "_", "-"))
			ref := p.Ref
			if p.Items != nil {
				ref = p.Items.Ref
			}
			if !ok || ref == "" {
				t.Errorf("%s: %s is not an association in %s", tb.Name, assoc, tb.Definition)
				continue
			}
			ad, err := doc.Definition(ref)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := ad.Property(key); !ok {
				t.Errorf("%s: %s (%s) has no key %q", tb.Name, assoc, ref, key)
			}
		}
	}
	// DefaultRedaction hands out its own slices: appending to one (as the
	// configuration does) never changes another table's or a later call's.
	a := schemas.DefaultRedaction("supplier_information")
	_ = append(a.Mask, "name")
	if b := schemas.DefaultRedaction("supplier_information"); slices.Contains(b.Mask, "name") {
		t.Error("DefaultRedaction shares its Mask slice")
	}
}

// The catalog's sensitive fields are redacted by default: cXML secrets never
// published, tax ids and social security numbers masked, bank account
// numbers masked inside every remit-to address (where they reach Kafka in the
// address's extra map), card numbers masked in purchase order changes.
// Everything else, including the bank's codes, is published as sent.
func TestCatalogSensitiveFieldsRedactedByDefault(t *testing.T) {
	const (
		secret = "s3cr3t-0451"
		tax    = "TAX-123456789"
		ssn    = "078-05-1120"
		acct   = "000123456789"
		iban   = "DE89370400440532013000"
		card   = "4111111111111111"
	)
	addr := `{"id":%d,"email":"ap@example.com","bank-name":"First Bank","bank-routing-number":"021000021","bank-account-number":"` + acct + `","iban-number":"` + iban + `","international-bank-account-number":"` + iban + `"}`
	addrs := `[` + fmt.Sprintf(addr, 1) + `, null ,` + fmt.Sprintf(addr, 2) + `]`
	cases := []struct {
		table, json string
		secrets     []string
		check       func(map[string]any) error
	}{
		{"supplier_information", `{"id":1,"cxml-secret":"` + secret + `","federal-tax-num":"` + tax + `","intl-tax-num":"` + tax + `","social-security-number":"` + ssn + `","name":"Acme","supplier-information-addresses":` + addrs + `}`,
			[]string{secret, tax, ssn, acct, iban}, func(m map[string]any) error {
				if m["cxml-secret"] != nil || m["federal-tax-num"] != schemas.Mask || m["social-security-number"] != schemas.Mask || m["name"] != "Acme" {
					return fmt.Errorf("published %v", m)
				}
				return remitTo(m["supplier-information-addresses"])
			}},
		{"supplier_information_sites", `{"id":1,"cxml-secret":"` + secret + `","addresses":` + addrs + `}`,
			[]string{secret, acct, iban}, func(m map[string]any) error { return remitTo(m["addresses"]) }},
		{"supplier_sites", `{"id":1,"cxml-secret":"` + secret + `","name":"Acme"}`, []string{secret}, nil},
		{"suppliers", `{"id":1,"cxml-secret":"` + secret + `1","cxml-invoice-secret":"` + secret + `2","coupa-connect-secret":"` + secret + `3","name":"Acme"}`, []string{secret}, nil},
		{"tax_registrations", `{"id":1,"number":"` + tax + `","owner-type":"Supplier","owner-id":9}`, []string{tax}, func(m map[string]any) error {
			if m["number"] != schemas.Mask || m["owner-type"] != "Supplier" {
				return fmt.Errorf("published %v", m)
			}
			return nil
		}},
		{"business_entities", `{"id":1,"formation-type":"Person","tax-registrations":[{"id":5,"number":"` + tax + `","country":{"code":"DE"}}]}`, []string{tax}, func(m map[string]any) error {
			regs, _ := m["tax-registrations"].([]any)
			if len(regs) != 1 || regs[0].(map[string]any)["number"] != schemas.Mask || regs[0].(map[string]any)["id"] != float64(5) {
				return fmt.Errorf("tax registrations published as %v", m["tax-registrations"])
			}
			return nil
		}},
		{"purchase_order_changes", `{"id":1,"pcard":{"id":7,"number":"` + card + `"}}`, []string{card}, nil},
	}
	for _, c := range cases {
		bin, got := publish(t, c.table, nil, []byte(c.json))
		for _, s := range c.secrets {
			if bytes.Contains(bin, []byte(s)) {
				t.Errorf("%s: %q reached the Avro value: %v", c.table, s, got)
			}
		}
		if c.check != nil {
			if err := c.check(got); err != nil {
				t.Errorf("%s: %v", c.table, err)
			}
		}
		// Configured away, everything but the credentials is published.
		bin, _ = publish(t, c.table, &schemas.Redaction{}, []byte(c.json))
		for _, s := range c.secrets {
			if s != secret && !bytes.Contains(bin, []byte(s)) {
				t.Errorf("%s: with the masks configured away, %q is not published", c.table, s)
			}
		}
	}
}

// remitTo checks a published array of remit-to addresses: account numbers
// masked in each address's extra map, the rest as sent.
func remitTo(v any) error {
	as, _ := v.([]any)
	if len(as) != 3 || as[1] != nil {
		return fmt.Errorf("addresses published as %v", v)
	}
	for _, a := range []any{as[0], as[2]} {
		m, _ := a.(map[string]any)
		for _, k := range []string{"bank-account-number", "iban-number", "international-bank-account-number"} {
			if m[k] != schemas.Mask {
				return fmt.Errorf("address %v: %s is %v", m["id"], k, m[k])
			}
		}
		if m["bank-routing-number"] != "021000021" || m["bank-name"] != "First Bank" || m["email"] != "ap@example.com" {
			return fmt.Errorf("address published as %v", m)
		}
	}
	return nil
}

// Paths into extra and into arrays are checked like any other.
func TestRedactionPathsIntoExtraAndArrays(t *testing.T) {
	for _, tc := range []struct {
		table string
		r     schemas.Redaction
		want  string
	}{
		{"supplier_information", schemas.Redaction{Mask: []string{"supplier_information_addresses.extra"}}, "names no key"},
		{"supplier_information", schemas.Redaction{Mask: []string{"supplier_information_addresses.extra.email"}}, "name it email"},
		{"supplier_information", schemas.Redaction{Mask: []string{"supplier_information_addresses.nope"}}, `no field "nope"`},
		{"supplier_information", schemas.Redaction{Mask: []string{"name.x"}}, "not a record"},
		{"invoices", schemas.Redaction{Mask: []string{"invoice_lines.description"}}, "are lines"},
	} {
		_, err := schemas.Published(tc.table, &tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want %q", tc.table, tc.r, err, tc.want)
		}
	}
	// An array that does not fit its schema lands in extra as its JSON
	// text, redacted all the same.
	odd := []byte(`{"id":1,"addresses": [ {"id":1,"iban-number":"DE89370400440532013000"} , 2 ,[ ], {"iban-number":null} ] }`)
	bin, got := publish(t, "supplier_information_sites", nil, odd)
	if bytes.Contains(bin, []byte("DE8937")) {
		t.Errorf("an IBAN in an ill-fitting array reached Kafka: %v", got["addresses"])
	}
	if as, _ := got["addresses"].([]any); len(as) != 4 || as[0].(map[string]any)["iban-number"] != schemas.Mask || as[3].(map[string]any)["iban-number"] != nil {
		t.Errorf("addresses published as %v", got["addresses"])
	}
	// A top-level key the schema does not know can be hashed through extra.
	r := &schemas.Redaction{Hash: []string{"extra.secret-note"}, HashKey: "k"}
	bin, got = publish(t, "tax_registrations", r, []byte(`{"id":1,"secret-note":"hush-0451"}`))
	if h, _ := got["secret-note"].(string); !strings.HasPrefix(h, "hmac-sha256:") || bytes.Contains(bin, []byte("hush-0451")) {
		t.Errorf("secret-note published as %v", got["secret-note"])
	}
}
