package coupatest_test

import (
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

func since(t time.Time) url.Values {
	return url.Values{"updated_at[gt_or_eq]": {coupa.FormatTime(t)}, "order_by": {"updated_at"}}
}

func TestUpdateAndInsert(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 30} })
	tok := token(t, s, "")
	before := s.Truth("invoices")
	id := s.States("invoices")[5].ID
	at, err := s.Update("invoices", id)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(s.Now().UTC()) && at.After(s.Now()) {
		t.Fatalf("updated_at %v is not the instance's now", at)
	}
	after, _ := s.Record("invoices", id)
	if !after.UpdatedAt.Equal(at) || after.Version != before[id].Version+1 || string(after.JSON) == string(before[id].JSON) {
		t.Fatalf("update not reflected: %+v", after)
	}
	newIDs := s.Insert("invoices", 3)
	if s.Count("invoices") != 33 || newIDs[0] <= id {
		t.Fatalf("insert: count %d ids %v", s.Count("invoices"), newIDs)
	}
	got := ids(records(t, get(t, s, tok, "/api/invoices", since(at))))
	want := append([]int64{id}, newIDs...)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("listing since the update: %v, want %v", got, want)
	}
	if _, err := s.Update("invoices", 999999); err == nil {
		t.Fatal("update of a missing id succeeded")
	}
	if err := s.Delete("invoices", id); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Truth("invoices")[id]; ok || s.Count("invoices") != 32 {
		t.Fatal("deleted record still in truth")
	}
	if got := ids(records(t, get(t, s, tok, "/api/invoices", url.Values{"id": {"1"}}))); len(got) != 0 {
		t.Fatal(got)
	}
}

func TestBulkUpdateTie(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"purchase_orders": 300} })
	tok := token(t, s, "")
	bulk, at := s.BulkUpdate("purchase_orders", 120)
	if len(bulk) != 120 {
		t.Fatalf("%d ids", len(bulk))
	}
	q := url.Values{"updated_at": {coupa.FormatTime(at)}, "order_by": {"id"}}
	if got := ids(listAll(t, s, tok, "/api/purchase_orders", q)); !slices.Equal(got, bulk) {
		t.Fatalf("tie listing %d ids, want %d", len(got), len(bulk))
	}
	// A ">= cursor" on the timestamp alone never gets past the tie.
	page := ids(records(t, get(t, s, tok, "/api/purchase_orders", since(at))))
	if len(page) != 50 {
		t.Fatalf("first page %d", len(page))
	}
}

func TestLateWrite(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"requisitions": 50} })
	tok := token(t, s, "")
	id := s.States("requisitions")[10].ID
	now := s.Now()
	at, err := s.LateWrite("requisitions", id, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := now.Sub(at); d < 29*time.Second || d > 31*time.Second {
		t.Fatalf("late write stamped %v, %v before now", at, d)
	}
	// A cursor that had reached "now" does not see it; a lookback does.
	if got := ids(records(t, get(t, s, tok, "/api/requisitions", since(now)))); slices.Contains(got, id) {
		t.Fatal("late write visible after the cursor")
	}
	if got := ids(records(t, get(t, s, tok, "/api/requisitions", since(now.Add(-time.Minute))))); !slices.Contains(got, id) {
		t.Fatal("late write missing from the lookback window")
	}

	// BeginWrite: stamped now, invisible until Commit.
	id2 := s.States("requisitions")[20].ID
	before, _ := s.Record("requisitions", id2)
	pw, err := s.BeginWrite("requisitions", id2)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Record("requisitions", id2); r.Version != before.Version {
		t.Fatal("pending write visible before commit")
	}
	stamped := pw.Commit()
	if r, _ := s.Record("requisitions", id2); !r.UpdatedAt.Equal(stamped) || r.Version != before.Version+1 {
		t.Fatalf("commit not visible: %+v", r)
	}
}

func TestSkew(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"users": 5} })
	tok := token(t, s, "")
	skew := -90 * time.Minute
	s.SetSkew(skew)
	r := get(t, s, tok, "/api/users", nil)
	date, err := http.ParseTime(r.header.Get("Date"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(date) + skew; d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("Date %v is not host clock %v", date, skew)
	}
	at, _ := s.Update("users", s.States("users")[0].ID)
	if d := time.Since(at) + skew; d < -2*time.Second || d > 2*time.Second || at.Nanosecond() != 0 {
		t.Fatalf("updated_at %v does not follow the skewed clock", at)
	}
}

// Mutations while clients list: the race detector and the index invariants
// must hold.
func TestConcurrentMutations(t *testing.T) {
	s := newServer(t, func(c *coupatest.Config) { c.Records = map[string]int{"invoices": 500} })
	tok := token(t, s, "")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		sts := s.States("invoices")
		for i := 0; i < 400; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			switch i % 4 {
			case 0:
				s.Update("invoices", sts[i%len(sts)].ID)
			case 1:
				s.Insert("invoices", 2)
			case 2:
				s.LateWrite("invoices", sts[(i*7)%len(sts)].ID, 10*time.Second)
			case 3:
				s.BulkUpdate("invoices", 60)
			}
		}
	}()
	for i := 0; i < 20; i++ {
		q := since(time.Now().Add(-time.Hour))
		q.Set("fields", `["id","updated-at"]`)
		recs := records(t, get(t, s, tok, "/api/invoices", q))
		for j := 1; j < len(recs); j++ {
			a, _ := coupa.ParseTime(recs[j-1]["updated-at"].(string))
			b, _ := coupa.ParseTime(recs[j]["updated-at"].(string))
			if b.Before(a) {
				t.Fatal("page not ordered by updated_at")
			}
		}
	}
	close(stop)
	wg.Wait()
	// After the dust settles a full listing equals the truth.
	truth := s.States("invoices")
	got := ids(listAll(t, s, tok, "/api/invoices", nil))
	if len(got) != len(truth) {
		t.Fatalf("listing %d, truth %d", len(got), len(truth))
	}
	byUpd := listAll(t, s, tok, "/api/invoices", url.Values{"updated_at[gt_or_eq]": {"2000-01-01"}})
	if len(byUpd) != len(truth) {
		t.Fatalf("index listing %d, truth %d", len(byUpd), len(truth))
	}
}

func TestStandaloneOnFixedAddr(t *testing.T) {
	if _, err := coupatest.New(coupatest.Config{Records: map[string]int{"nonsense": 1}}); err == nil {
		t.Fatal("unknown table in Records accepted")
	}
	s, err := coupatest.New(coupatest.Config{Addr: "127.0.0.1:0", Records: map[string]int{"users": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.CACertPEM()) == 0 || s.CertPool() == nil {
		t.Fatal("no certificate to trust")
	}
	if r := get(t, s, token(t, s, "core.user.read"), "/api/users", nil); r.status != 200 {
		t.Fatal(r.status)
	}
}
