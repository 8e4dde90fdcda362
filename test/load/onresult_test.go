package load

import (
	"sync"
	"testing"
	"time"
)

// resultLog gathers what Config.OnResult saw, safe for the concurrent calls.
type resultLog struct {
	mu  sync.Mutex
	all []Result
}

func (l *resultLog) add(r Result) {
	l.mu.Lock()
	l.all = append(l.all, r)
	l.mu.Unlock()
}

func (l *resultLog) byEndpoint() map[string][]Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]Result{}
	for _, r := range l.all {
		out[r.Endpoint] = append(out[r.Endpoint], r)
	}
	return out
}

// TestOnResultSeesEveryMeasuredRequest: the hook sees exactly the requests the
// report counts, with the same status classes, and wall-clock times that fall
// inside the run.
func TestOnResultSeesEveryMeasuredRequest(t *testing.T) {
	f, srv := newFake(t)
	f.failEveryNth = 50
	var log resultLog
	cfg := smallConcert(srv.URL)
	cfg.OnResult = log.add
	before := time.Now()
	rep, _ := Run(runCtx(t), cfg) // the planted 500s fail the audit; the report is what matters
	after := time.Now()
	if rep == nil {
		t.Fatal("no report")
	}
	got := log.byEndpoint()
	claims := got[EndpointClaim]
	if len(got) != 1 || len(claims) != 300 {
		t.Fatalf("hook saw %d endpoints, %d claims; want only 300 claims", len(got), len(claims))
	}
	ep, _ := rep.Endpoint(EndpointClaim)
	var s2xx, s409, s5xx int64
	for _, r := range claims {
		switch {
		case r.Err != nil || r.ErrKind != "":
			t.Fatalf("unexpected transport error %v (%q)", r.Err, r.ErrKind)
		case r.Status >= 200 && r.Status < 300:
			s2xx++
		case r.Status == 409:
			s409++
		case r.Status >= 500:
			s5xx++
		}
		if r.Intended.Before(before) || r.Ended.After(after) || r.Ended.Before(r.Started) {
			t.Fatalf("times out of order or outside the run: %+v", r)
		}
	}
	if s2xx != ep.Status.S2xx || s409 != ep.Status.S409 || s5xx != ep.Status.S5xx || s5xx != 6 {
		t.Fatalf("hook counted 2xx %d, 409 %d, 5xx %d; report says %+v (want 6 5xx)", s2xx, s409, s5xx, ep.Status)
	}
}

func TestOnResultCouponRushEndpoints(t *testing.T) {
	_, srv := newFake(t)
	var log resultLog
	cfg := smallCoupon(srv.URL)
	cfg.OnResult = log.add
	rep, err := Run(runCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := log.byEndpoint()
	for _, name := range []string{EndpointJoin, EndpointLineStatus} {
		ep, _ := rep.Endpoint(name)
		if int64(len(got[name])) != ep.Count || ep.Count == 0 {
			t.Errorf("%s: hook saw %d, report counts %d", name, len(got[name]), ep.Count)
		}
	}
}

// TestOnResultTransportError: a request that gets no answer reaches the hook
// with its error and the kind the report counts it under.
func TestOnResultTransportError(t *testing.T) {
	f, srv := newFake(t)
	// Buyer requests stall three times the timeout; the timeout is long
	// enough that the unstalled admin calls around them (create, audit)
	// answer in time on a busy machine.
	f.stall = 3 * time.Second
	var log resultLog
	cfg := smallConcert(srv.URL)
	cfg.Stock, cfg.Stages, cfg.Speed = 5, []Stage{{time.Second, 10}}, 1
	cfg.Timeout = time.Second
	cfg.OnResult = log.add
	rep, _ := Run(runCtx(t), cfg)
	if rep == nil {
		t.Fatal("no report")
	}
	ep, _ := rep.Endpoint(EndpointClaim)
	claims := log.byEndpoint()[EndpointClaim]
	var timeouts int64
	for _, r := range claims {
		if r.Err != nil && r.ErrKind == "timeout" && r.Status == 0 {
			timeouts++
		}
	}
	if timeouts == 0 || timeouts != ep.Errors.Timeout || int64(len(claims)) != ep.Count {
		t.Fatalf("hook saw %d timeouts of %d claims; report: %d timeouts of %d", timeouts, len(claims), ep.Errors.Timeout, ep.Count)
	}
}
