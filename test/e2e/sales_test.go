package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
)

// unlimited is a server without the per-buyer rate limit, so tests can hammer it.
var unlimited = stackOptions{cfg: httpapi.Config{RatePerUser: -1}}

func (s *stack) claim(dropID string, headers map[string]string, body string) (resp, claimBody) {
	s.t.Helper()
	r := s.do(req{"POST", "/v1/drops/" + dropID + "/claims", body, headers})
	var c claimBody
	r.decode(s.t, &c)
	return r, c
}

// expectOutcome checks a 409 business outcome: plain JSON, just the status.
func expectOutcome(t *testing.T, r resp, status string) {
	t.Helper()
	if r.status != http.StatusConflict || r.header.Get("Content-Type") != "application/json" || string(r.body) != `{"status":"`+status+`"}` {
		t.Fatalf("got %d %q %s, want 409 application/json %s", r.status, r.header.Get("Content-Type"), r.body, status)
	}
}

func TestGeneralOpenClaims(t *testing.T) {
	s := newStack(t, unlimited)
	d := s.createDrop(map[string]any{"name": "Coupons", "kind": "general", "stock": 2, "region": "eu", "venue": "online"})
	if d.ID == "" || d.Stock != 2 || d.Remaining != 2 || d.Status != "open" || d.Admission != "open" ||
		d.PerUserLimit != 1 || d.OpensAt != nil || d.ClosesAt != nil || d.Kind != "general" || d.Region != "eu" {
		t.Fatalf("created %+v", d)
	}

	r, a := s.claim(d.ID, user("alice"), "")
	if r.status != http.StatusCreated || a.Status != "issued" || a.Issuance == nil ||
		a.Issuance.UserID != "alice" || a.Issuance.DropID != d.ID || a.Issuance.Seat != "" || a.Issuance.Code == "" || a.Issuance.ID == "" {
		t.Fatalf("first claim: %s", r)
	}
	r, _ = s.claim(d.ID, user("alice"), "{}")
	expectOutcome(t, r, "limit_reached")
	r, b := s.claim(d.ID, user("bob"), "{}")
	if r.status != http.StatusCreated || b.Issuance.UserID != "bob" {
		t.Fatalf("bob: %s", r)
	}
	r, _ = s.claim(d.ID, user("carol"), "{}")
	expectOutcome(t, r, "sold_out")
	// A holder hears limit_reached, never sold_out.
	r, _ = s.claim(d.ID, user("alice"), "{}")
	expectOutcome(t, r, "limit_reached")

	var got dropBody
	s.do(req{"GET", "/v1/drops/" + d.ID, "", nil}).expect(t, 200).decode(t, &got)
	if got.Remaining != 0 || got.Stock != 2 {
		t.Fatalf("after selling out: %+v", got)
	}

	var mine struct {
		Issuances []issuanceBody `json:"issuances"`
	}
	s.do(req{"GET", "/v1/me/issuances", "", user("alice")}).expect(t, 200).decode(t, &mine)
	if len(mine.Issuances) != 1 || mine.Issuances[0] != *a.Issuance {
		t.Fatalf("alice's issuances %+v, want %+v", mine.Issuances, *a.Issuance)
	}
	s.do(req{"GET", "/v1/me/issuances", "", user("carol")}).expect(t, 200).decode(t, &mine)
	if mine.Issuances == nil || len(mine.Issuances) != 0 {
		t.Fatalf("carol's issuances %s, want []", mine.Issuances)
	}

	var audit struct {
		Issuances []issuanceBody `json:"issuances"`
	}
	s.do(req{"GET", "/v1/admin/drops/" + d.ID + "/issuances", "", admin()}).expect(t, 200).decode(t, &audit)
	if len(audit.Issuances) != 2 || audit.Issuances[0].ID != a.Issuance.ID || audit.Issuances[1].ID != b.Issuance.ID {
		t.Fatalf("audit %+v", audit.Issuances)
	}

	var stats map[string]any
	s.do(req{"GET", "/v1/admin/drops/" + d.ID + "/stats", "", admin()}).expect(t, 200).decode(t, &stats)
	want := map[string]any{"issued": 2.0, "remaining": 0.0, "line_length": 0.0, "admitted": 0.0, "persisted": 2.0,
		"pending_persist": 0.0, "issued_count_synced": 0.0, "admit_rate": 100.0, "paused": false}
	for k, v := range want {
		if got, ok := stats[k]; !ok || got != v {
			t.Errorf("stats[%s] = %v (present %v), want %v", k, got, ok, v)
		}
	}

	var rec struct {
		Repaired int      `json:"repaired"`
		Details  []string `json:"details"`
	}
	s.do(req{"POST", "/v1/admin/drops/" + d.ID + "/reconcile", "", admin()}).expect(t, 200).decode(t, &rec)
	if rec.Repaired != 0 || rec.Details == nil {
		t.Fatalf("reconcile of a consistent drop: %+v", rec)
	}
}

func TestListDrops(t *testing.T) {
	s := newStack(t, unlimited)
	s.createDrop(map[string]any{"id": "eu-now", "name": "A", "kind": "general", "stock": 1, "region": "eu"})
	s.createDrop(map[string]any{"id": "us-now", "name": "B", "kind": "general", "stock": 1, "region": "us"})
	s.createDrop(map[string]any{"id": "eu-later", "name": "C", "kind": "seated", "seats": []string{"A-1", "B-2"}, "region": "eu",
		"opens_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})

	ids := func(query string) []string {
		var list struct {
			Drops []dropBody `json:"drops"`
		}
		s.do(req{"GET", "/v1/drops" + query, "", nil}).expect(t, 200).decode(t, &list)
		out := []string{}
		for _, d := range list.Drops {
			out = append(out, d.ID)
		}
		return out
	}
	for q, want := range map[string][]string{
		"":                         {"eu-now", "us-now", "eu-later"},
		"?region=eu":               {"eu-now", "eu-later"},
		"?region=eu&status=open":   {"eu-now"},
		"?status=upcoming":         {"eu-later"},
		"?status=closed":           {},
		"?region=nowhere&status=":  {},
		"?region=us&status=open&x": {"us-now"},
	} {
		if got := ids(q); !equal(got, want) {
			t.Errorf("GET /v1/drops%s = %v, want %v", q, got, want)
		}
	}

	var later dropBody
	s.do(req{"GET", "/v1/drops/eu-later", "", nil}).expect(t, 200).decode(t, &later)
	if later.Status != "upcoming" || later.Kind != "seated" || later.Stock != 2 || later.OpensAt == nil || later.ClosesAt != nil {
		t.Fatalf("seated upcoming drop: %+v", later)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIdempotentClaims(t *testing.T) {
	s := newStack(t, unlimited)
	d := s.createDrop(map[string]any{"name": "Retry", "kind": "general", "stock": 100, "per_user_limit": 5})

	r, first := s.claim(d.ID, userKey("alice", "order-1"), "{}")
	r.expect(t, http.StatusCreated)
	r, again := s.claim(d.ID, userKey("alice", "order-1"), "{}")
	r.expect(t, http.StatusOK)
	if *again.Issuance != *first.Issuance || again.Status != "issued" {
		t.Fatalf("retry answered %+v, want %+v", *again.Issuance, *first.Issuance)
	}
	// The key is scoped to the buyer: bob's order-1 is his own.
	r, bobs := s.claim(d.ID, userKey("bob", "order-1"), "{}")
	r.expect(t, http.StatusCreated)
	if bobs.Issuance.ID == first.Issuance.ID {
		t.Fatal("bob got alice's issuance")
	}

	// 50 concurrent retries with one key: one issuance, one 201.
	const n = 50
	var wg sync.WaitGroup
	results := make([]resp, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.try(req{"POST", "/v1/drops/" + d.ID + "/claims", "{}", userKey("carol", "burst")})
		}()
	}
	wg.Wait()
	created, ids := 0, map[string]bool{}
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("concurrent retry answered %s", r)
		}
		if r.status == http.StatusCreated {
			created++
		}
		var c claimBody
		r.decode(t, &c)
		ids[c.Issuance.ID] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Fatalf("%d answers were 201 and %d distinct issuances, want 1 and 1", created, len(ids))
	}
	var mine struct {
		Issuances []issuanceBody `json:"issuances"`
	}
	s.do(req{"GET", "/v1/me/issuances", "", user("carol")}).expect(t, 200).decode(t, &mine)
	if len(mine.Issuances) != 1 {
		t.Fatalf("carol holds %d units after 50 retries of one key", len(mine.Issuances))
	}
	// A new key is a new claim.
	s.do(req{"POST", "/v1/drops/" + d.ID + "/claims", "{}", userKey("carol", "burst-2")}).expect(t, http.StatusCreated)
}

func TestSeatedOpenClaims(t *testing.T) {
	s := newStack(t, unlimited)
	d := s.createDrop(map[string]any{"name": "Concert", "kind": "seated", "seats": []string{"B-2", "A-1", "C-3"}, "per_user_limit": 2})
	if d.Stock != 3 || d.Kind != "seated" {
		t.Fatalf("created %+v", d)
	}
	r, a := s.claim(d.ID, user("alice"), `{"seat":"A-1"}`)
	r.expect(t, http.StatusCreated)
	if a.Issuance.Seat != "A-1" {
		t.Fatalf("issued seat %q", a.Issuance.Seat)
	}
	// Claiming a seat one already holds returns that issuance.
	r, again := s.claim(d.ID, user("alice"), `{"seat":"A-1"}`)
	r.expect(t, http.StatusOK)
	if *again.Issuance != *a.Issuance {
		t.Fatalf("repeat claim answered %+v", again.Issuance)
	}
	r, _ = s.claim(d.ID, user("bob"), `{"seat":"A-1"}`)
	expectOutcome(t, r, "seat_taken")
	s.claim(d.ID, user("bob"), `{"seat":"B-2"}`)
	r, _ = s.claim(d.ID, user("bob"), `{"seat":"C-3"}`)
	r.expect(t, http.StatusCreated)
	r, _ = s.claim(d.ID, user("bob"), `{"seat":"B-2"}`)
	r.expect(t, http.StatusOK)

	var seats struct {
		Seats []struct {
			Label string `json:"label"`
			Taken bool   `json:"taken"`
		} `json:"seats"`
	}
	s.do(req{"GET", "/v1/drops/" + d.ID + "/seats", "", nil}).expect(t, 200).decode(t, &seats)
	if len(seats.Seats) != 3 || seats.Seats[0].Label != "A-1" || !seats.Seats[0].Taken || !seats.Seats[2].Taken {
		t.Fatalf("seats %+v", seats.Seats)
	}
	s.do(req{"GET", "/v1/drops/" + d.ID + "/seats?available=true", "", nil}).expect(t, 200).decode(t, &seats)
	if seats.Seats == nil || len(seats.Seats) != 0 {
		t.Fatalf("available seats %+v, want []", seats.Seats)
	}
}

func TestAdminUpdate(t *testing.T) {
	s := newStack(t, unlimited)
	d := s.createDrop(map[string]any{"id": "steer", "name": "Steer", "kind": "general", "stock": 10,
		"admission": "queued", "admit_rate": 50, "pass_ttl_seconds": 30})
	if d.ID != "steer" || d.Admission != "queued" || d.AdmitRate != 50 || d.PassTTLSeconds != 30 {
		t.Fatalf("created %+v", d)
	}

	var got dropBody
	s.do(req{"PATCH", "/v1/admin/drops/steer", `{"admit_rate":500,"paused":true}`, admin()}).expect(t, 200).decode(t, &got)
	if got.AdmitRate != 500 || !got.Paused {
		t.Fatalf("PATCH answered %+v", got)
	}
	s.do(req{"GET", "/v1/drops/steer", "", nil}).expect(t, 200).decode(t, &got)
	if got.AdmitRate != 500 || !got.Paused {
		t.Fatalf("GET after PATCH %+v", got)
	}
	var stats struct {
		AdmitRate int  `json:"admit_rate"`
		Paused    bool `json:"paused"`
	}
	s.do(req{"GET", "/v1/admin/drops/steer/stats", "", admin()}).expect(t, 200).decode(t, &stats)
	if stats.AdmitRate != 500 || !stats.Paused {
		t.Fatalf("stats after PATCH %+v", stats)
	}

	closes := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	s.do(req{"PATCH", "/v1/admin/drops/steer", mustJSON(t, map[string]any{"closes_at": closes.Format(time.RFC3339)}), admin()}).expect(t, 200).decode(t, &got)
	if got.ClosesAt == nil || !got.ClosesAt.Equal(closes) || got.AdmitRate != 500 {
		t.Fatalf("closes_at set: %+v", got)
	}
	s.do(req{"PATCH", "/v1/admin/drops/steer", `{}`, admin()}).expect(t, 200).decode(t, &got)
	if got.ClosesAt == nil {
		t.Fatal("an empty PATCH removed closes_at")
	}
	s.do(req{"PATCH", "/v1/admin/drops/steer", `{"closes_at":null}`, admin()}).expect(t, 200).decode(t, &got)
	if got.ClosesAt != nil {
		t.Fatalf("closes_at null kept %v", got.ClosesAt)
	}

	// Paused stops open claims.
	open := s.createDrop(map[string]any{"id": "open-one", "name": "O", "kind": "general", "stock": 1})
	s.do(req{"PATCH", "/v1/admin/drops/" + open.ID, `{"paused":true}`, admin()}).expect(t, 200)
	r := s.do(req{"POST", "/v1/drops/" + open.ID + "/claims", "{}", user("alice")})
	if r.status != http.StatusConflict || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("claim while paused: %s", r)
	}
	s.do(req{"PATCH", "/v1/admin/drops/" + open.ID, `{"paused":false}`, admin()}).expect(t, 200)
	s.do(req{"POST", "/v1/drops/" + open.ID + "/claims", "{}", user("alice")}).expect(t, http.StatusCreated)
	// A closed window also stops claims.
	s.do(req{"PATCH", "/v1/admin/drops/steer", mustJSON(t, map[string]any{"closes_at": time.Now().Add(-time.Second).Format(time.RFC3339)}), admin()}).expect(t, 200).decode(t, &got)
	if got.Status != "closed" {
		t.Fatalf("status after closing %q", got.Status)
	}
}

// TestConcurrentBuyersKeepTheirIdentity runs many buyers over shared
// keep-alive connections. Fiber reuses request buffers, so an id the adapter
// forgot to copy would surface here as an issuance or a place in line filed
// under another buyer's name.
func TestConcurrentBuyersKeepTheirIdentity(t *testing.T) {
	s := newStack(t, unlimited)
	open := s.createDrop(map[string]any{"name": "Crowd", "kind": "general", "stock": 1000})
	queued := s.createDrop(map[string]any{"name": "Crowd line", "kind": "general", "stock": 1000, "admission": "queued", "paused": true})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	positions := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("buyer-%03d", i)
			r, err := s.try(req{"POST", "/v1/drops/" + open.ID + "/claims", "{}", userKey(id, "key-"+id)})
			if err != nil {
				errs <- err
				return
			}
			var c claimBody
			if err := json.Unmarshal(r.body, &c); err != nil || r.status != http.StatusCreated || c.Issuance.UserID != id {
				errs <- fmt.Errorf("%s claimed: %s", id, r)
			}
			r, err = s.try(req{"POST", "/v1/drops/" + queued.ID + "/line", "", user(id)})
			if err != nil {
				errs <- err
				return
			}
			var l lineBody
			if err := json.Unmarshal(r.body, &l); err != nil || r.status != http.StatusAccepted {
				errs <- fmt.Errorf("%s joined: %s", id, r)
			}
			positions[i] = l.Position
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	var audit struct {
		Issuances []issuanceBody `json:"issuances"`
	}
	s.do(req{"GET", "/v1/admin/drops/" + open.ID + "/issuances", "", admin()}).expect(t, 200).decode(t, &audit)
	holders := map[string]int{}
	for _, iss := range audit.Issuances {
		holders[iss.UserID]++
	}
	seen := map[int64]bool{}
	for i := range n {
		id := fmt.Sprintf("buyer-%03d", i)
		if holders[id] != 1 {
			t.Errorf("%s holds %d units", id, holders[id])
		}
		if r, l := s.line("GET", queued.ID, id); r.status != 200 || l.Position != positions[i] || seen[l.Position] {
			t.Errorf("%s stands at %s, joined at %d", id, r, positions[i])
		}
		seen[positions[i]] = true
	}
	if len(audit.Issuances) != n || len(seen) != n {
		t.Fatalf("%d issuances and %d distinct places for %d buyers", len(audit.Issuances), len(seen), n)
	}
}
