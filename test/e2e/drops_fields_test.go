package e2e_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// waitingDrop is the part of a Drop that the waiting-at-scale fields add,
// plus the window; raw keeps the members so a test can tell absent from
// false or zero.
type waitingDrop struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	OpensAt       *time.Time `json:"opens_at"`
	ClosesAt      *time.Time `json:"closes_at"`
	QueueOpensAt  *time.Time `json:"queue_opens_at"`
	ShuffleAtOpen *bool      `json:"shuffle_at_open"`
	MaxActive     *int       `json:"max_active"`
	AdmitRate     int        `json:"admit_rate"`
	raw           map[string]json.RawMessage
}

func decodeWaiting(t *testing.T, r resp) waitingDrop {
	t.Helper()
	var d waitingDrop
	r.decode(t, &d)
	r.decode(t, &d.raw)
	return d
}

func (d waitingDrop) has(member string) bool {
	_, ok := d.raw[member]
	return ok
}

// TestWaitingFieldsValidation sends each broken rule of queue_opens_at,
// shuffle_at_open and max_active, on create and on PATCH, and the PATCH
// closes_at rules of the API reference's admin routes (docs/openapi.yaml): the answer is the status, code
// and field the error table gives for the same kind of fault elsewhere.
func TestWaitingFieldsValidation(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createDrop(map[string]any{"id": "gen", "name": "General", "kind": "general", "stock": 10})
	s.createDrop(map[string]any{"id": "seatedq", "name": "Seated", "kind": "seated", "seats": []string{"A-1", "A-2"},
		"admission": "queued"})

	now := time.Now().UTC()
	opens := now.Add(time.Hour).Format(time.RFC3339)
	create := func(extra map[string]any) string {
		body := map[string]any{"name": "N", "kind": "general", "stock": 1}
		for k, v := range extra {
			body[k] = v
		}
		return mustJSON(t, body)
	}
	seatedQueued := func(extra map[string]any) string {
		body := map[string]any{"name": "N", "kind": "seated", "seats": []string{"A-1"}, "admission": "queued"}
		for k, v := range extra {
			body[k] = v
		}
		return mustJSON(t, body)
	}

	cases := []struct {
		name   string
		r      req
		status int
		code   string
		field  string
	}{
		// queue_opens_at.
		{"queue_opens_at on open admission", req{"POST", "/v1/admin/drops", create(map[string]any{
			"opens_at": opens, "queue_opens_at": now.Format(time.RFC3339)}), admin()}, 422, "validation_failed", "queue_opens_at"},
		{"queue_opens_at without opens_at", req{"POST", "/v1/admin/drops", create(map[string]any{
			"admission": "queued", "queue_opens_at": now.Format(time.RFC3339)}), admin()}, 422, "validation_failed", "queue_opens_at"},
		{"queue_opens_at after opens_at", req{"POST", "/v1/admin/drops", create(map[string]any{
			"admission": "queued", "opens_at": opens, "queue_opens_at": now.Add(2 * time.Hour).Format(time.RFC3339)}), admin()},
			422, "validation_failed", "queue_opens_at"},
		{"queue_opens_at equal to opens_at", req{"POST", "/v1/admin/drops", create(map[string]any{
			"admission": "queued", "opens_at": opens, "queue_opens_at": opens}), admin()}, 422, "validation_failed", "queue_opens_at"},
		{"queue_opens_at zero time", req{"POST", "/v1/admin/drops", create(map[string]any{
			"admission": "queued", "opens_at": opens, "queue_opens_at": "0001-01-01T00:00:00Z"}), admin()}, 422, "validation_failed", "queue_opens_at"},
		{"queue_opens_at not a time", req{"POST", "/v1/admin/drops", create(map[string]any{
			"admission": "queued", "opens_at": opens, "queue_opens_at": "soon"}), admin()}, 400, "invalid_body", "queue_opens_at"},
		{"shuffle_at_open wrong type", req{"POST", "/v1/admin/drops", create(map[string]any{
			"shuffle_at_open": "yes"}), admin()}, 400, "invalid_body", "shuffle_at_open"},
		{"closes_at before 2000 on create", req{"POST", "/v1/admin/drops", create(map[string]any{
			"closes_at": "1999-12-31T23:59:59Z"}), admin()}, 422, "validation_failed", "closes_at"},

		// max_active on create.
		{"max_active on a general drop", req{"POST", "/v1/admin/drops", create(map[string]any{
			"admission": "queued", "max_active": 5}), admin()}, 422, "validation_failed", "max_active"},
		{"max_active on open admission", req{"POST", "/v1/admin/drops", seatedQueued(map[string]any{
			"admission": "open", "max_active": 5}), admin()}, 422, "validation_failed", "max_active"},
		{"max_active 0", req{"POST", "/v1/admin/drops", seatedQueued(map[string]any{"max_active": 0}), admin()},
			422, "validation_failed", "max_active"},
		{"max_active over 1M", req{"POST", "/v1/admin/drops", seatedQueued(map[string]any{"max_active": 1_000_001}), admin()},
			422, "validation_failed", "max_active"},
		{"max_active negative", req{"POST", "/v1/admin/drops", seatedQueued(map[string]any{"max_active": -3}), admin()},
			422, "validation_failed", "max_active"},
		{"max_active wrong type", req{"POST", "/v1/admin/drops", seatedQueued(map[string]any{"max_active": "many"}), admin()},
			400, "invalid_body", "max_active"},
		{"max_active fractional", req{"POST", "/v1/admin/drops", seatedQueued(map[string]any{"max_active": 1.5}), admin()},
			400, "invalid_body", "max_active"},

		// max_active on PATCH.
		{"patch max_active 0", req{"PATCH", "/v1/admin/drops/seatedq", `{"max_active":0}`, admin()}, 422, "validation_failed", "max_active"},
		{"patch max_active over 1M", req{"PATCH", "/v1/admin/drops/seatedq", `{"max_active":1000001}`, admin()}, 422, "validation_failed", "max_active"},
		{"patch max_active on a general drop", req{"PATCH", "/v1/admin/drops/gen", `{"max_active":5}`, admin()}, 422, "validation_failed", "max_active"},
		{"patch max_active wrong type", req{"PATCH", "/v1/admin/drops/seatedq", `{"max_active":"5"}`, admin()}, 400, "invalid_body", "max_active"},
		{"patch max_active fractional", req{"PATCH", "/v1/admin/drops/seatedq", `{"max_active":2.5}`, admin()}, 400, "invalid_body", "max_active"},

		// closes_at on PATCH: a placeholder time never passes for null.
		{"patch closes_at zero time", req{"PATCH", "/v1/admin/drops/gen", `{"closes_at":"0001-01-01T00:00:00Z"}`, admin()}, 422, "validation_failed", "closes_at"},
		{"patch closes_at before 2000", req{"PATCH", "/v1/admin/drops/gen", `{"closes_at":"1970-01-01T00:00:00Z"}`, admin()}, 422, "validation_failed", "closes_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			r := s.do(tc.r)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			var p problemBody
			r.decode(t, &p)
			if p.Code != tc.code || p.Field != tc.field || p.Detail == "" {
				t.Fatalf("problem %+v, want code %q field %q", p, tc.code, tc.field)
			}
		})
	}
	s.t = t

	// None of the refused calls created or changed anything.
	var list struct {
		Drops []json.RawMessage `json:"drops"`
	}
	s.do(req{"GET", "/v1/drops", "", nil}).expect(t, 200).decode(t, &list)
	if len(list.Drops) != 2 {
		t.Fatalf("%d drops after refused creates, want 2", len(list.Drops))
	}
	for _, id := range []string{"gen", "seatedq"} {
		d := decodeWaiting(t, s.do(req{"GET", "/v1/drops/" + id, "", nil}).expect(t, 200))
		if d.ClosesAt != nil || d.has("max_active") || d.has("queue_opens_at") {
			t.Fatalf("%s changed by refused PATCHes: %s", id, d.raw)
		}
	}
}

// TestWaitingFieldsEcho creates drops with and without the new fields and
// checks that a Drop shows each one exactly when it was set, on the create
// answer and on a later read.
func TestWaitingFieldsEcho(t *testing.T) {
	s := newStack(t, stackOptions{})
	opens := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	queueOpens := opens.Add(-30 * time.Minute)

	body := map[string]any{"id": "arena", "name": "Arena", "kind": "seated", "seats": []string{"A-1", "A-2", "A-3"},
		"admission": "queued", "opens_at": opens.Format(time.RFC3339), "queue_opens_at": queueOpens.Format(time.RFC3339),
		"max_active": 2}
	created := decodeWaiting(t, s.do(req{"POST", "/v1/admin/drops", mustJSON(t, body), admin()}).expect(t, http.StatusCreated))
	read := decodeWaiting(t, s.do(req{"GET", "/v1/drops/arena", "", nil}).expect(t, 200))
	for name, d := range map[string]waitingDrop{"create": created, "read": read} {
		if d.QueueOpensAt == nil || !d.QueueOpensAt.Equal(queueOpens) {
			t.Errorf("%s: queue_opens_at = %v, want %s", name, d.QueueOpensAt, queueOpens)
		}
		if d.ShuffleAtOpen == nil || !*d.ShuffleAtOpen {
			t.Errorf("%s: shuffle_at_open = %v, want the default true", name, d.ShuffleAtOpen)
		}
		if d.MaxActive == nil || *d.MaxActive != 2 {
			t.Errorf("%s: max_active = %v, want 2", name, d.MaxActive)
		}
	}

	// shuffle_at_open false is echoed as false, not dropped as a zero value.
	body["id"], body["shuffle_at_open"] = "arena-fifo", false
	delete(body, "max_active")
	fifo := decodeWaiting(t, s.do(req{"POST", "/v1/admin/drops", mustJSON(t, body), admin()}).expect(t, http.StatusCreated))
	if fifo.ShuffleAtOpen == nil || *fifo.ShuffleAtOpen || fifo.has("max_active") {
		t.Errorf("arena-fifo: %s, want shuffle_at_open false and no max_active", fifo.raw)
	}

	// A drop given none of them shows none of them.
	plain := decodeWaiting(t, s.do(req{"POST", "/v1/admin/drops", `{"id":"plain","name":"P","kind":"general","stock":3,"admission":"queued"}`, admin()}).
		expect(t, http.StatusCreated))
	for _, m := range []string{"queue_opens_at", "shuffle_at_open", "max_active"} {
		if plain.has(m) {
			t.Errorf("plain drop shows %s: %s", m, plain.raw)
		}
	}
}

// TestPatchMaxActiveAndClosesAt steers a live drop through PATCH: set and
// remove the cap, remove the end with null, and close the drop with a past
// closes_at.
func TestPatchMaxActiveAndClosesAt(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createDrop(map[string]any{"id": "hall", "name": "Hall", "kind": "seated", "seats": []string{"A-1", "A-2"},
		"admission": "queued", "closes_at": time.Now().Add(time.Hour).Format(time.RFC3339)})
	patch := func(body string) waitingDrop {
		t.Helper()
		return decodeWaiting(t, s.do(req{"PATCH", "/v1/admin/drops/hall", body, admin()}).expect(t, 200))
	}

	if d := patch(`{"max_active":50}`); d.MaxActive == nil || *d.MaxActive != 50 {
		t.Fatalf("PATCH max_active 50 answered %s", d.raw)
	}
	if d := decodeWaiting(t, s.do(req{"GET", "/v1/drops/hall", "", nil}).expect(t, 200)); d.MaxActive == nil || *d.MaxActive != 50 {
		t.Fatalf("GET after PATCH max_active 50: %s", d.raw)
	}
	// Other members leave the cap alone.
	if d := patch(`{"admit_rate":7}`); d.MaxActive == nil || *d.MaxActive != 50 || d.AdmitRate != 7 {
		t.Fatalf("PATCH admit_rate answered %s", d.raw)
	}
	if d := patch(`{"max_active":null}`); d.has("max_active") {
		t.Fatalf("PATCH max_active null answered %s, want the cap gone", d.raw)
	}

	// The refused placeholder leaves the end where it was; null removes it.
	s.do(req{"PATCH", "/v1/admin/drops/hall", `{"closes_at":"0001-01-01T00:00:00Z"}`, admin()}).expect(t, 422)
	if d := decodeWaiting(t, s.do(req{"GET", "/v1/drops/hall", "", nil}).expect(t, 200)); d.ClosesAt == nil {
		t.Fatalf("a refused closes_at removed the end: %s", d.raw)
	}
	if d := patch(`{"closes_at":null}`); d.ClosesAt != nil || d.Status != "open" {
		t.Fatalf("PATCH closes_at null answered %s, want no end and open", d.raw)
	}

	// A closes_at in the past closes the drop now: claims are refused at once.
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if d := patch(mustJSON(t, map[string]any{"closes_at": past})); d.Status != "closed" || d.ClosesAt == nil {
		t.Fatalf("PATCH closes_at in the past answered %s, want closed", d.raw)
	}
	var p problemBody
	s.do(req{"POST", "/v1/drops/hall/claims", `{"seat":"A-1"}`, user("late")}).expect(t, http.StatusConflict).decode(t, &p)
	if p.Code != "drop_not_open" {
		t.Fatalf("claim after a past closes_at: %+v, want drop_not_open", p)
	}
	var list struct {
		Drops []waitingDrop `json:"drops"`
	}
	s.do(req{"GET", "/v1/drops?status=closed", "", nil}).expect(t, 200).decode(t, &list)
	if len(list.Drops) != 1 || list.Drops[0].ID != "hall" {
		t.Fatalf("closed drops = %+v, want hall", list.Drops)
	}
}
