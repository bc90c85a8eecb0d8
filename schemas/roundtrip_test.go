package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// decodeJSON decodes with numbers kept as their text.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// roundTrip converts raw, rebuilds JSON from the Avro with ToJSON (which
// decodes with hamba/avro) and checks it equals raw up to the documented
// normalisations. It returns the extra count.
func roundTrip(t *Table, raw []byte) (int, error) {
	bin, extra, err := t.Append(nil, raw)
	if err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	back, err := t.ToJSON(bin)
	if err != nil {
		return 0, fmt.Errorf("ToJSON: %w", err)
	}
	orig, err := decodeJSON(raw)
	if err != nil {
		return 0, fmt.Errorf("original: %w", err)
	}
	got, err := decodeJSON(back)
	if err != nil {
		return 0, fmt.Errorf("rebuilt JSON is invalid: %w\n%s", err, back)
	}
	if err := sameRecord(t.root, orig.(map[string]any), got.(map[string]any), ""); err != nil {
		return 0, fmt.Errorf("%w\nrebuilt: %s", err, back)
	}
	return extra, nil
}

// sameRecord compares an original Coupa object with its rebuild: null and
// absent are the same, known datetime and decimal fields compare by value,
// everything else must be exactly equal (numbers by exact value).
func sameRecord(rp *recordPlan, orig, got map[string]any, path string) error {
	keys := map[string]bool{}
	for k := range orig {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for k := range keys {
		o, g := orig[k], got[k]
		if o == nil && g == nil {
			continue
		}
		p := path + "." + k
		if o == nil || g == nil {
			return fmt.Errorf("%s: original %v, rebuilt %v", p, o, g)
		}
		if fi, ok := rp.byKey[k]; ok && jsonEqual(o, g) != nil {
			if err := sameValue(&rp.fields[fi].valuePlan, o, g, p); err != nil {
				return err
			}
			continue
		}
		if err := jsonEqual(o, g); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func sameValue(vp *valuePlan, o, g any, path string) error {
	switch vp.kind {
	case kDatetime:
		os, ok1 := o.(string)
		gs, ok2 := g.(string)
		if ok1 && ok2 {
			ot, err1 := time.Parse(time.RFC3339Nano, os)
			gt, err2 := time.Parse(time.RFC3339Nano, gs)
			if err1 == nil && err2 == nil && ot.Equal(gt) {
				return nil
			}
		}
	case kDecimal:
		os, ok1 := o.(string)
		gs, ok2 := g.(string)
		if ok1 && ok2 {
			or, ok1 := new(big.Rat).SetString(os)
			gr, ok2 := new(big.Rat).SetString(gs)
			if ok1 && ok2 && or.Cmp(gr) == 0 {
				return nil
			}
		}
	case kRecord:
		om, ok1 := o.(map[string]any)
		gm, ok2 := g.(map[string]any)
		if ok1 && ok2 {
			return sameRecord(vp.rec, om, gm, path)
		}
	case kArray:
		oa, ok1 := o.([]any)
		ga, ok2 := g.([]any)
		if ok1 && ok2 && len(oa) == len(ga) {
			for i := range oa {
				if err := sameValue(vp.items, oa[i], ga[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := jsonEqual(o, g); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// jsonEqual is exact JSON equality; numbers compare by exact value.
func jsonEqual(o, g any) error {
	switch o := o.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok || len(gm) != len(o) {
			return fmt.Errorf("original %v, rebuilt %v", o, g)
		}
		for k, v := range o {
			gv, ok := gm[k]
			if !ok {
				return fmt.Errorf("key %q missing from rebuilt", k)
			}
			if err := jsonEqual(v, gv); err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
		}
		return nil
	case []any:
		ga, ok := g.([]any)
		if !ok || len(ga) != len(o) {
			return fmt.Errorf("original %v, rebuilt %v", o, g)
		}
		for i := range o {
			if err := jsonEqual(o[i], ga[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case json.Number:
		gn, ok := g.(json.Number)
		if ok {
			or, ok1 := new(big.Rat).SetString(string(o))
			gr, ok2 := new(big.Rat).SetString(string(gn))
			if ok1 && ok2 && or.Cmp(gr) == 0 {
				return nil
			}
		}
	default:
		if o == g {
			return nil
		}
	}
	return fmt.Errorf("original %#v, rebuilt %#v", o, g)
}

// fixtureRecords reads testdata/<table>.json (a JSON array of records).
func fixtureRecords(t testing.TB, table string) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", table+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRoundTripFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		table := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(table, func(t *testing.T) {
			tb, err := Load(table)
			if err != nil {
				t.Fatal(err)
			}
			for i, raw := range fixtureRecords(t, table) {
				extra, err := roundTrip(tb, raw)
				if err != nil {
					t.Errorf("record %d: %v", i, err)
				}
				t.Logf("record %d: %d values kept in extra", i, extra)
			}
		})
	}
}
