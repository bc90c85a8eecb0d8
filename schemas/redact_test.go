package schemas_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
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
