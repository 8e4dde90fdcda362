package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
)

type liveRate struct {
	LastSecond *float64 `json:"last_second"`
	LastMinute *float64 `json:"last_minute"`
}

// liveEvent is the data of a `stats` event; pointers tell a missing member
// from a zero.
type liveEvent struct {
	Issued            *int64     `json:"issued"`
	Remaining         *int64     `json:"remaining"`
	LineLength        *int64     `json:"line_length"`
	PreQueueLength    *int64     `json:"pre_queue_length"`
	ActivePasses      *int64     `json:"active_passes"`
	Admitted          *int64     `json:"admitted"`
	Persisted         *int64     `json:"persisted"`
	PendingPersist    *int64     `json:"pending_persist"`
	IssuedCountSynced *int64     `json:"issued_count_synced"`
	AdmitRate         *int       `json:"admit_rate"`
	Paused            *bool      `json:"paused"`
	At                *time.Time `json:"at"`
	Rates             *struct {
		Joins      *liveRate `json:"joins"`
		Admissions *liveRate `json:"admissions"`
		Issues     *liveRate `json:"issues"`
		Polls      *liveRate `json:"polls"`
	} `json:"rates"`
	// ETASeconds is kept raw: null and a number are both valid.
	ETASeconds json.RawMessage `json:"eta_seconds"`
}

// missing reports the first member missing from the event, or "".
func (e liveEvent) missing() string {
	switch {
	case e.Issued == nil:
		return "issued"
	case e.Remaining == nil:
		return "remaining"
	case e.LineLength == nil:
		return "line_length"
	case e.PreQueueLength == nil:
		return "pre_queue_length"
	case e.ActivePasses == nil:
		return "active_passes"
	case e.Admitted == nil:
		return "admitted"
	case e.Persisted == nil:
		return "persisted"
	case e.PendingPersist == nil:
		return "pending_persist"
	case e.IssuedCountSynced == nil:
		return "issued_count_synced"
	case e.AdmitRate == nil:
		return "admit_rate"
	case e.Paused == nil:
		return "paused"
	case e.At == nil:
		return "at"
	case e.Rates == nil:
		return "rates"
	case e.ETASeconds == nil:
		return "eta_seconds"
	}
	for name, r := range map[string]*liveRate{"joins": e.Rates.Joins, "admissions": e.Rates.Admissions,
		"issues": e.Rates.Issues, "polls": e.Rates.Polls} {
		if r == nil || r.LastSecond == nil || r.LastMinute == nil {
			return "rates." + name
		}
	}
	return ""
}

// eta decodes eta_seconds: ok false for null.
func (e liveEvent) eta(t *testing.T) (float64, bool) {
	t.Helper()
	if string(e.ETASeconds) == "null" {
		return 0, false
	}
	var v float64
	if err := json.Unmarshal(e.ETASeconds, &v); err != nil {
		t.Fatalf("eta_seconds %s: %v", e.ETASeconds, err)
	}
	return v, true
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	name, data string
}

// liveStream is an open GET .../live: events arrive on a channel so a test
// can wait for one with a deadline instead of blocking on the body.
type liveStream struct {
	resp   *http.Response
	events chan sseEvent
	ended  chan error
}

// openLive opens the stream with client; the caller closes it.
func openLive(t *testing.T, client *http.Client, base, dropID string) *liveStream {
	t.Helper()
	hr, err := http.NewRequest(http.MethodGet, base+"/v1/admin/drops/"+dropID+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("live answered %d %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		res.Body.Close()
		t.Fatalf("live Content-Type %q", ct)
	}
	ls := &liveStream{resp: res, events: make(chan sseEvent, 64), ended: make(chan error, 1)}
	go ls.read()
	return ls
}

func (ls *liveStream) read() {
	br := bufio.NewReader(ls.resp.Body)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				err = nil
			} else if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("stream ended inside an event: %q", line)
			}
			close(ls.events)
			ls.ended <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			ls.events <- ev
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

func (ls *liveStream) close() { ls.resp.Body.Close() }

// next waits for the next stats event; the stream sends one a second.
func (ls *liveStream) next(t *testing.T) liveEvent {
	t.Helper()
	select {
	case ev, ok := <-ls.events:
		if !ok {
			t.Fatalf("stream ended: %v", <-ls.ended)
		}
		if ev.name != "stats" {
			t.Fatalf("event %q %s, want stats", ev.name, ev.data)
		}
		var le liveEvent
		if err := json.Unmarshal([]byte(ev.data), &le); err != nil {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
		if m := le.missing(); m != "" {
			t.Fatalf("event lacks %s: %s", m, ev.data)
		}
		return le
	case <-time.After(10 * time.Second):
		t.Fatal("no live event within 10s")
	}
	return liveEvent{}
}

// streamClient has no overall timeout: a stream's body is read for seconds.
func streamClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestLiveStream(t *testing.T) {
	s := newStack(t, unlimited)
	// Paused, nobody is admitted while the line forms.
	d := s.createDrop(map[string]any{"name": "Live rush", "kind": "general", "stock": 100,
		"admission": "queued", "admit_rate": 20, "paused": true})

	ls := openLive(t, streamClient(t), s.base, d.ID)
	defer ls.close()

	first := ls.next(t)
	if *first.Remaining != 100 || *first.LineLength != 0 || *first.AdmitRate != 20 || !*first.Paused {
		t.Fatalf("first event %+v", first)
	}
	if _, ok := first.eta(t); ok {
		t.Fatalf("eta while paused = %s, want null", first.ETASeconds)
	}
	if *first.Rates.Joins.LastMinute != 0 {
		t.Fatalf("first event has a join rate before anyone joined: %v", *first.Rates.Joins.LastMinute)
	}

	const joiners = 30
	for i := range joiners {
		s.lineCall("POST", d.ID, fmt.Sprintf("live-u%d", i)).expect(t, http.StatusAccepted)
	}
	// Rejoining keeps the place: not a join.
	s.lineCall("POST", d.ID, "live-u0").expect(t, http.StatusOK)
	for i := range 5 {
		s.lineCall("GET", d.ID, fmt.Sprintf("live-u%d", i)).expect(t, http.StatusOK)
	}

	// Three events at least; the joins show up once a reading follows them.
	var ev liveEvent
	var joined float64
	for n := 0; n < 3 || joined < joiners-0.5; n++ {
		if n > 12 {
			t.Fatalf("joins never reached the rate: last event %+v", ev)
		}
		prevAt := *first.At
		ev = ls.next(t)
		if !ev.At.After(prevAt) {
			t.Fatalf("event at %v not after %v", ev.At, prevAt)
		}
		// The minute rate spans the readings since the first event: rate x
		// span is every join since then.
		joined = *ev.Rates.Joins.LastMinute * ev.At.Sub(*first.At).Seconds()
	}
	if joined > joiners+0.5 {
		t.Fatalf("join rate counts %.1f joins, want %d (a rejoin is not a join)", joined, joiners)
	}
	if *ev.LineLength != joiners || *ev.Rates.Polls.LastMinute <= 0 {
		t.Fatalf("after the joins: line_length %d, polls %v", *ev.LineLength, *ev.Rates.Polls.LastMinute)
	}

	// Unpaused, the dispatcher admits (and, in a general drop, issues) at the
	// admit rate, and the stream says so.
	s.do(req{"PATCH", "/v1/admin/drops/" + d.ID, `{"paused":false}`, admin()}).expect(t, http.StatusOK)
	for n := 0; ; n++ {
		if n > 15 {
			t.Fatalf("admissions never showed in the stream: last event %+v", ev)
		}
		ev = ls.next(t)
		if *ev.Rates.Admissions.LastMinute > 0 && *ev.Rates.Issues.LastMinute > 0 {
			break
		}
	}
	eta, ok := ev.eta(t)
	if !ok || eta != float64(*ev.LineLength)/float64(*ev.AdmitRate) {
		t.Fatalf("eta %s with line %d at rate %d", ev.ETASeconds, *ev.LineLength, *ev.AdmitRate)
	}
}

func TestLiveStreamRejects(t *testing.T) {
	s := newStack(t, unlimited)
	d := s.createDrop(map[string]any{"name": "Live", "kind": "general", "stock": 1})
	path := "/v1/admin/drops/" + d.ID + "/live"
	expectProblem(t, s.do(req{"GET", path, "", nil}), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, s.do(req{"GET", path, "", map[string]string{"Authorization": "Bearer wrong"}}), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, s.do(req{"GET", "/v1/admin/drops/nope/live", "", admin()}), http.StatusNotFound, "drop_not_found")
}

// TestLiveStreamEndsAtShutdown: an open stream must not hold Shutdown up
// until its deadline; the client sees the stream end cleanly.
func TestLiveStreamEndsAtShutdown(t *testing.T) {
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	st := application.Stores{Drops: memory.NewDrops(), Inventory: memory.NewInventory(),
		Line: memory.NewLine(), Ledger: memory.NewLedger(), Lease: memory.NewLease(nil)}
	cache := application.NewDropCache(st.Drops, 500*time.Millisecond)
	recon := application.NewReconciler(st, log)
	sales := application.NewSales(st, cache, recon, application.SalesOptions{}, log)
	catalog := application.NewCatalog(st, cache, recon)
	srv := httpapi.New(httpapi.Config{AdminToken: adminToken}, sales, catalog, nil, nil, nil, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	s := &stack{t: t, base: base, client: &http.Client{Timeout: 10 * time.Second}}
	d := s.createDrop(map[string]any{"name": "Live", "kind": "general", "stock": 5})
	streams := []*liveStream{openLive(t, streamClient(t), base, d.ID), openLive(t, streamClient(t), base, d.ID)}
	for _, ls := range streams {
		defer ls.close()
		ls.next(t)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with open live streams: %v", err)
	}
	// One tick is the most a stream takes to notice.
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %v with open live streams", took)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	for _, ls := range streams {
		for range ls.events {
		}
		if err := <-ls.ended; err != nil {
			t.Fatalf("stream did not end cleanly: %v", err)
		}
	}
}

// TestLiveStreamOutlivesWriteTimeout: the server's write timeout bounds each
// event, not the whole stream, which lasts as long as the operator watches.
func TestLiveStreamOutlivesWriteTimeout(t *testing.T) {
	s := newStack(t, stackOptions{cfg: httpapi.Config{WriteTimeout: 500 * time.Millisecond}})
	d := s.createDrop(map[string]any{"name": "Live", "kind": "general", "stock": 1})
	ls := openLive(t, streamClient(t), s.base, d.ID)
	defer ls.close()
	for range 3 {
		ls.next(t)
	}
}
