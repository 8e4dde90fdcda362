package load

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeServer is a small, correct-by-default implementation of the parts of
// docs/openapi.yaml the load generator drives, with switches that plant the bugs the audit
// must catch. Queued admission is computed lazily on each request (admit_rate
// times the time since the drop opened), so the fake starts no goroutines.
type fakeServer struct {
	token  string
	secret string

	// Planted bugs.
	oversell     bool          // issue one already-taken seat a second time
	hideFirst    bool          // leave the first issuance out of the admin list
	hideFirstIn  string        // the same, in the drop with this id only
	lifo         bool          // admit the newest waiting user instead of the oldest
	stall        time.Duration // delay every buyer answer
	failEveryNth int           // answer 500 to every nth claim
	notOpen      bool          // answer every claim 409 drop_not_open
	unpaced      bool          // an older server: no poll_after_ms, no tickets
	prequeueFIFO bool          // keep the pre-queue in arrival order at opening
	prequeueRev  bool          // put the pre-queue in reversed arrival order at opening
	prequeueLate bool          // place the pre-queue behind the first later arrival
	positionUp   bool          // each status answer says a thousand places further back than the last
	pollAfter    time.Duration // when set, the poll_after_ms of every waiting answer

	// onIssue, if set, sees every issuance as it is made (under the fake's lock).
	onIssue func(apiIssuance)

	mu     sync.Mutex
	drops  map[string]*fakeDrop
	nextID int
	claims int

	// What the status polls presented: the current ticket, an outdated one
	// (the pre-queue's, after the shuffle), or none.
	ticketOK, ticketStale, ticketNone int
}

type fakeDrop struct {
	id, kind, admission string
	stock, perUser      int
	admitRate           float64
	paused              bool
	opened              time.Time
	// firstJoin is when the first buyer joined: admission credit starts no
	// earlier, so the time a busy machine takes between creating the drop
	// and the first arrival does not bank credit that admits the crowd on
	// arrival (and leaves nobody waiting for the tests that need a line).
	firstJoin time.Time

	seats     map[string]string // label -> holder
	issuances []apiIssuance
	held      map[string]int
	oversold  bool

	line    []string
	entries map[string]*fakeEntry
	head    int
	credit  int

	// A pre-queue: joins before opened wait in pre, unplaced, until the first
	// request after opened places them all (shuffled unless told otherwise).
	prequeue bool
	shuffle  bool
	pre      []string
	placed   bool
}

type fakeEntry struct {
	idx      int
	status   string
	issuance *apiIssuance
	epoch    int // bumps when the entry is placed from the pre-queue: its old ticket is stale
	stale    int // polls that presented an outdated ticket
	polls    int
}

func newFake(t *testing.T) (*fakeServer, *httptest.Server) {
	t.Helper()
	f := &fakeServer{token: "admin-secret", drops: map[string]*fakeDrop{}}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/drops", f.admin(f.createDrop))
	mux.HandleFunc("PATCH /v1/admin/drops/{id}", f.admin(f.patchDrop))
	mux.HandleFunc("GET /v1/admin/drops/{id}/stats", f.admin(f.stats))
	mux.HandleFunc("GET /v1/admin/drops/{id}/issuances", f.admin(f.list))
	mux.HandleFunc("POST /v1/drops/{id}/claims", f.buyer(f.claim))
	mux.HandleFunc("POST /v1/drops/{id}/line", f.buyer(f.join))
	mux.HandleFunc("GET /v1/drops/{id}/line/me", f.buyer(f.status))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": code, "status": status, "code": code})
}

func (f *fakeServer) admin(h func(http.ResponseWriter, *http.Request, *fakeDrop)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			problem(w, 401, "unauthorized")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		var d *fakeDrop
		if id := r.PathValue("id"); id != "" {
			if d = f.drops[id]; d == nil {
				problem(w, 404, "drop_not_found")
				return
			}
		}
		h(w, r, d)
	}
}

func (f *fakeServer) buyer(h func(http.ResponseWriter, *http.Request, *fakeDrop, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.stall > 0 {
			time.Sleep(f.stall)
		}
		user := r.Header.Get("X-User-ID")
		if f.secret != "" {
			tok, err := jwt.Parse(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
				func(*jwt.Token) (any, error) { return []byte(f.secret), nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
			if err != nil {
				problem(w, 401, "unauthorized")
				return
			}
			user, _ = tok.Claims.GetSubject()
		}
		if user == "" {
			problem(w, 401, "unauthorized")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		d := f.drops[r.PathValue("id")]
		if d == nil {
			problem(w, 404, "drop_not_found")
			return
		}
		d.advance(f)
		h(w, r, d, user)
	}
}

func (f *fakeServer) createDrop(w http.ResponseWriter, r *http.Request, _ *fakeDrop) {
	var in createDrop
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, 400, "bad_json")
		return
	}
	f.nextID++
	id := in.ID
	if id == "" {
		id = fmt.Sprintf("d%d", f.nextID)
	}
	if _, taken := f.drops[id]; taken {
		problem(w, 409, "drop_exists")
		return
	}
	d := &fakeDrop{
		id: id, kind: in.Kind, admission: in.Admission, stock: in.Stock,
		perUser: in.PerUserLimit, admitRate: float64(in.AdmitRate), opened: time.Now(),
		held: map[string]int{}, entries: map[string]*fakeEntry{}, placed: true,
	}
	if in.QueueOpensAt != nil {
		if !in.QueueOpensAt.Before(in.OpensAt) {
			problem(w, 422, "queue_opens_at")
			return
		}
		d.prequeue, d.placed, d.opened = true, false, in.OpensAt
		d.shuffle = in.ShuffleAtOpen == nil || *in.ShuffleAtOpen
	}
	if in.Kind == "seated" {
		d.seats = map[string]string{}
		for _, s := range in.Seats {
			d.seats[s] = ""
		}
		d.stock = len(in.Seats)
	}
	f.drops[d.id] = d
	writeJSON(w, 201, apiDrop{ID: d.id, Kind: d.kind, Stock: d.stock, Admission: d.admission, AdmitRate: d.admitRate, PerUserLimit: d.perUser})
}

func (f *fakeServer) patchDrop(w http.ResponseWriter, r *http.Request, d *fakeDrop) {
	var in struct {
		Paused *bool `json:"paused"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, 400, "bad_json")
		return
	}
	if in.Paused != nil {
		d.paused = *in.Paused
	}
	writeJSON(w, 200, apiDrop{ID: d.id})
}

func (f *fakeServer) stats(w http.ResponseWriter, _ *http.Request, d *fakeDrop) {
	d.advance(f)
	waiting := 0
	for _, e := range d.entries {
		if e.status == "waiting" {
			waiting++
		}
	}
	n := int64(len(d.issuances))
	pre := 0
	if !d.placed {
		pre = len(d.pre)
	}
	writeJSON(w, 200, serverStats{Issued: n, Remaining: int64(d.stock) - n, LineLength: int64(waiting), PreQueueLength: int64(pre), Persisted: n,
		IssuedCountSynced: n, AdmitRate: d.admitRate, Paused: d.paused})
}

func (f *fakeServer) list(w http.ResponseWriter, _ *http.Request, d *fakeDrop) {
	list := d.issuances
	if (f.hideFirst || d.id == f.hideFirstIn) && len(list) > 0 {
		list = list[1:]
	}
	writeJSON(w, 200, issuanceList{Issuances: list})
}

func (d *fakeDrop) issue(user, seat string, onIssue func(apiIssuance)) apiIssuance {
	is := apiIssuance{ID: fmt.Sprintf("%s-i%d", d.id, len(d.issuances)+1), DropID: d.id, UserID: user, Seat: seat,
		Code: fmt.Sprintf("C%d", len(d.issuances)+1), IssuedAt: time.Now().UTC()}
	d.issuances = append(d.issuances, is)
	d.held[user]++
	if onIssue != nil {
		onIssue(is)
	}
	return is
}

func (f *fakeServer) claim(w http.ResponseWriter, r *http.Request, d *fakeDrop, user string) {
	f.claims++
	if f.failEveryNth > 0 && f.claims%f.failEveryNth == 0 {
		problem(w, 503, "unavailable")
		return
	}
	if f.notOpen {
		problem(w, 409, "drop_not_open")
		return
	}
	var in struct {
		Seat string `json:"seat"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	if d.held[user] >= d.perUser {
		writeJSON(w, 409, map[string]string{"status": "limit_reached"})
		return
	}
	if len(d.issuances) >= d.stock && (!f.oversell || d.oversold) {
		writeJSON(w, 409, map[string]string{"status": "sold_out"})
		return
	}
	holder, ok := d.seats[in.Seat]
	if !ok {
		problem(w, 422, "unknown_seat")
		return
	}
	if holder != "" {
		if !f.oversell || d.oversold {
			writeJSON(w, 409, map[string]string{"status": "seat_taken"})
			return
		}
		d.oversold = true
	}
	d.seats[in.Seat] = user
	is := d.issue(user, in.Seat, f.onIssue)
	writeJSON(w, 201, map[string]any{"status": "issued", "issuance": is})
}

// advance admits users the admit rate allows since the drop opened, and tells
// everyone still waiting "sold out" once stock is gone.
func (d *fakeDrop) advance(f *fakeServer) {
	lifo, onIssue := f.lifo, f.onIssue
	if d.admission != "queued" || d.paused || time.Now().Before(d.opened) {
		return
	}
	if !d.placed && !f.prequeueLate {
		d.place(f)
	}
	from := d.opened
	if d.firstJoin.After(from) {
		from = d.firstJoin
	}
	allowed := int(time.Since(from).Seconds() * d.admitRate)
	for d.credit < allowed && len(d.issuances) < d.stock {
		e := d.nextWaiting(lifo)
		if e == nil {
			break
		}
		is := d.issue(d.line[e.idx], "", onIssue)
		e.status, e.issuance = "issued", &is
		d.credit++
	}
	if len(d.issuances) >= d.stock {
		for _, e := range d.entries {
			if e.status == "waiting" {
				e.status = "sold_out"
			}
		}
	}
}

// place puts the pre-queue into the line, ahead of everyone who joins later.
func (d *fakeDrop) place(f *fakeServer) {
	order := append([]string(nil), d.pre...)
	switch {
	case f.prequeueRev:
		for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
			order[i], order[j] = order[j], order[i]
		}
	case d.shuffle && !f.prequeueFIFO:
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	for _, u := range order {
		e := d.entries[u]
		e.idx, e.status, e.epoch = len(d.line), "waiting", e.epoch+1
		d.line = append(d.line, u)
	}
	d.placed = true
}

func (d *fakeDrop) nextWaiting(lifo bool) *fakeEntry {
	if lifo {
		for i := len(d.line) - 1; i >= d.head; i-- {
			if e := d.entries[d.line[i]]; e.status == "waiting" {
				return e
			}
		}
		return nil
	}
	for d.head < len(d.line) {
		e := d.entries[d.line[d.head]]
		if e.status == "waiting" {
			return e
		}
		d.head++
	}
	return nil
}

// view is the entry's line answer. A paced server says when to poll next (in
// the pre-queue: just after opening, spread over 100ms; waiting: half the
// expected wait, within 20ms and 1s, since tests run compressed) and hands out
// the entry's ticket unless the poll presented it already.
func (d *fakeDrop) view(f *fakeServer, user string, e *fakeEntry, presented string) map[string]any {
	var out map[string]any
	switch e.status {
	case "waiting":
		pos := e.idx - d.head + 1
		if f.positionUp {
			pos += 1000 * e.polls
		}
		out = map[string]any{"status": "waiting", "position": pos, "ahead": pos - 1, "eta_seconds": 1.0}
		wait := time.Duration(float64(pos) / max(d.admitRate, 1) / 2 * float64(time.Second))
		out["poll_after_ms"] = min(max(wait, 20*time.Millisecond), time.Second).Milliseconds()
		if f.pollAfter > 0 {
			out["poll_after_ms"] = f.pollAfter.Milliseconds()
		}
	case "pre_queue":
		out = map[string]any{"status": "pre_queue", "opens_at": d.opened}
		out["poll_after_ms"] = (time.Until(d.opened) + rand.N(100*time.Millisecond)).Milliseconds() + 1
	case "issued":
		return map[string]any{"status": "issued", "issuance": e.issuance}
	default:
		return map[string]any{"status": e.status}
	}
	if f.unpaced {
		delete(out, "poll_after_ms")
	} else if t := fakeTicket(d.id, user, e.epoch); t != presented {
		out["ticket"] = t
	}
	return out
}

func fakeTicket(drop, user string, epoch int) string {
	return fmt.Sprintf("tk.%s.%s.%d", drop, user, epoch)
}

func (f *fakeServer) join(w http.ResponseWriter, _ *http.Request, d *fakeDrop, user string) {
	if e, ok := d.entries[user]; ok {
		writeJSON(w, 200, d.view(f, user, e, ""))
		return
	}
	if d.firstJoin.IsZero() {
		d.firstJoin = time.Now()
	}
	if time.Now().Before(d.opened) {
		if !d.prequeue {
			problem(w, 409, "drop_not_open")
			return
		}
		e := &fakeEntry{status: "pre_queue"}
		d.pre = append(d.pre, user)
		d.entries[user] = e
		writeJSON(w, 202, d.view(f, user, e, ""))
		return
	}
	e := &fakeEntry{idx: len(d.line), status: "waiting"}
	if len(d.issuances) >= d.stock {
		e.status = "sold_out"
	}
	d.line = append(d.line, user)
	d.entries[user] = e
	if !d.placed {
		// prequeueLate: the pre-queue goes in behind this later arrival.
		d.place(f)
	}
	d.advance(f)
	status := 202
	if e.status != "waiting" {
		status = 200
	}
	writeJSON(w, status, d.view(f, user, e, ""))
}

func (f *fakeServer) status(w http.ResponseWriter, r *http.Request, d *fakeDrop, user string) {
	e, ok := d.entries[user]
	if !ok {
		problem(w, 404, "not_in_line")
		return
	}
	e.polls++
	presented := r.Header.Get(ticketHeader)
	switch {
	case presented == "":
		f.ticketNone++
	case presented == fakeTicket(d.id, user, e.epoch):
		f.ticketOK++
	default:
		f.ticketStale++
		e.stale++
	}
	writeJSON(w, 200, d.view(f, user, e, presented))
}
