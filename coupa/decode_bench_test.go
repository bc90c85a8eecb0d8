package coupa_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// BenchmarkDecodePage decodes a page of 50 simulated invoices (about 700
// KB), next to encoding/json decoding the same page into maps: what a
// generic consumer of the page would pay.
func BenchmarkDecodePage(b *testing.B) {
	sim := coupatest.NewTLS(b, coupatest.Config{Seed: 1, Records: map[string]int{"invoices": 50}})
	req, _ := http.NewRequest("GET", sim.URL()+"/api/invoices?limit=50", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token(b, sim))
	resp, err := sim.HTTPClient().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.Run("DecodePage", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if recs, err := coupa.DecodePage(body); err != nil || len(recs) != 50 {
				b.Fatal(len(recs), err)
			}
		}
	})
	b.Run("encoding-json-maps", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v []map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func token(b *testing.B, sim *coupatest.Server) string {
	b.Helper()
	resp, err := sim.HTTPClient().PostForm(sim.URL()+"/oauth2/token", map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {coupatest.DefaultClientID}, "client_secret": {coupatest.DefaultClientSecret},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		b.Fatal(err)
	}
	return tok.AccessToken
}
