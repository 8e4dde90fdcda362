package browser_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// number reads an integer shown with thousands separators.
func number(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(s), ",", ""))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// TestWaitingRoomPositionFallsThenIssued: a buyer behind others in a queued
// general drop sees the position fall and then the issued code.
func TestWaitingRoomPositionFallsThenIssued(t *testing.T) {
	s := newServer(t)
	d := s.createDrop(map[string]any{"name": "Sneaker drop", "kind": "general", "region": "eu-west", "venue": "Online",
		"stock": 1000, "admission": "queued", "admit_rate": 2, "paused": true})
	s.join(d.ID, "ahead", 8)
	ctx := browser(t)

	run(t, ctx, "open waiting room", chromedp.Navigate(s.base+"/#/drop/"+d.ID),
		chromedp.WaitVisible("#room[data-state=waiting] #position", chromedp.ByQuery))
	first := number(t, text(t, ctx, "#position"))
	if first != 9 {
		t.Fatalf("position %d, want 9 behind 8 buyers", first)
	}
	shot(t, ctx, "waiting")
	checkA11y(t, ctx, "waiting room")

	if code, err := s.call("PATCH", "/v1/admin/drops/"+d.ID, adminHeaders(), map[string]any{"paused": false}, nil); err != nil || code != http.StatusOK {
		t.Fatalf("resume: %d %v", code, err)
	}
	waitJS(t, ctx, "position falls", fmt.Sprintf(
		`(() => { const p = document.querySelector('#position'); return p && Number(p.textContent.replace(/,/g, '')) < %d })()`, first))
	shot(t, ctx, "position-fell")
	run(t, ctx, "issued code", chromedp.WaitVisible("#room[data-state=issued] #issued-code", chromedp.ByQuery))
	if code := text(t, ctx, "#issued-code"); code == "" {
		t.Fatal("issued without a code")
	}
	shot(t, ctx, "issued")
	checkA11y(t, ctx, "issued")

	// My tickets lists it.
	run(t, ctx, "my tickets", chromedp.Navigate(s.base+"/#/tickets"), chromedp.WaitVisible("#tickets .code", chromedp.ByQuery))
	shot(t, ctx, "tickets")
	checkA11y(t, ctx, "my tickets")
}

// TestPreQueueCountdownTurnsIntoPosition: a buyer in the pre-queue sees a
// countdown, and a place in line once the drop opens.
func TestPreQueueCountdownTurnsIntoPosition(t *testing.T) {
	s := newServer(t)
	now := time.Now()
	// Paused: the buyer is placed at opening but nobody is admitted, so the
	// page shows a position rather than racing straight to a code.
	d := s.createDrop(map[string]any{"name": "Coupon rush", "kind": "general", "region": "ap-north", "venue": "Online",
		"stock": 100, "admission": "queued", "admit_rate": 5, "paused": true,
		"queue_opens_at": rfc3339(now.Add(-time.Minute)), "opens_at": rfc3339(now.Add(8 * time.Second))})
	s.join(d.ID, "early", 4)
	ctx := browser(t)

	run(t, ctx, "open pre-queue", chromedp.Navigate(s.base+"/#/drop/"+d.ID),
		chromedp.WaitVisible("#room[data-state=pre_queue] #countdown", chromedp.ByQuery))
	shot(t, ctx, "pre-queue")
	checkA11y(t, ctx, "pre-queue")

	run(t, ctx, "position at opening", chromedp.WaitVisible("#room[data-state=waiting] #position", chromedp.ByQuery))
	if p := number(t, text(t, ctx, "#position")); p < 1 || p > 5 {
		t.Fatalf("position %d after opening, want 1 to 5 (one of the five in the pre-queue)", p)
	}
	shot(t, ctx, "placed")
}

// TestTwoBuyersPickTheSameSeat: two buyers claim the same seat at once on the
// seat map; one gets it, the other sees seat_taken in place.
func TestTwoBuyersPickTheSameSeat(t *testing.T) {
	s := newServer(t)
	var seats []string
	for _, sec := range "ABC" {
		for n := 1; n <= 12; n++ {
			seats = append(seats, fmt.Sprintf("%c-%d", sec, n))
		}
	}
	d := s.createDrop(map[string]any{"name": "Concert", "kind": "seated", "region": "eu-west", "venue": "Arena",
		"seats": seats, "admission": "open"})
	// One seat gone already, so the map shows taken and free.
	if code, err := s.call("POST", "/v1/drops/"+d.ID+"/claims", map[string]string{"X-User-ID": "early-bird"}, map[string]any{"seat": "A-1"}, nil); err != nil || code != http.StatusCreated {
		t.Fatalf("claim A-1: %d %v", code, err)
	}
	// Two browsers, each with its own storage and so its own buyer id.
	tabs := []context.Context{browser(t), browser(t)}
	for i, ctx := range tabs {
		run(t, ctx, "open seat map", chromedp.Navigate(s.base+"/#/drop/"+d.ID),
			chromedp.WaitVisible(`[data-seat="A-3"]`, chromedp.ByQuery))
		waitJS(t, ctx, "A-1 shown taken", `document.querySelector('[data-seat="A-1"]').disabled`)
		if i == 0 {
			run(t, ctx, "pick", chromedp.Click(`[data-seat="A-5"]`, chromedp.ByQuery))
			shot(t, ctx, "seat-map")
			checkA11y(t, ctx, "seat map")
		}
	}
	// Both pick and claim A-3 at the same moment, each in one go.
	var wg sync.WaitGroup
	errs := make([]error, len(tabs))
	for i, ctx := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, waitFor)
			defer cancel()
			errs[i] = chromedp.Run(c, chromedp.Evaluate(
				`document.querySelector('[data-seat="A-3"]').click(); document.getElementById('claim-seat').click(); true`, nil))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	won, lost := -1, -1
	for i, ctx := range tabs {
		waitJS(t, ctx, "claim answered", `!!document.querySelector('#issued-code') || /just taken/.test(document.querySelector('#seat-msg').textContent)`)
		var issued bool
		run(t, ctx, "outcome", chromedp.Evaluate(`!!document.querySelector('#issued-code')`, &issued))
		if issued {
			won = i
		} else {
			lost = i
		}
	}
	if won < 0 || lost < 0 {
		t.Fatalf("want one winner and one loser, got winner %d loser %d", won, lost)
	}
	shot(t, tabs[won], "seat-won")
	shot(t, tabs[lost], "seat-taken")
	if got := text(t, tabs[won], "#issued-code"); got == "" {
		t.Fatal("winner has no code")
	}
	var cls string
	run(t, tabs[lost], "lost seat marked", chromedp.AttributeValue(`[data-seat="A-3"]`, "class", &cls, nil, chromedp.ByQuery))
	if !strings.Contains(cls, "taken") {
		t.Fatalf("lost seat has class %q, want it shown taken", cls)
	}
	checkA11y(t, tabs[lost], "seat taken")
}

// TestReloadKeepsThePlace: a reload and a reopened page find the same place,
// and neither joins the line again.
func TestReloadKeepsThePlace(t *testing.T) {
	s := newServer(t)
	d := s.createDrop(map[string]any{"name": "Limited run", "kind": "general", "stock": 50, "admission": "queued",
		"admit_rate": 1, "paused": true})
	s.join(d.ID, "before", 3)
	ctx := browser(t)
	run(t, ctx, "join", chromedp.Navigate(s.base+"/#/drop/"+d.ID),
		chromedp.WaitVisible("#room[data-state=waiting] #position", chromedp.ByQuery))
	if p := number(t, text(t, ctx, "#position")); p != 4 {
		t.Fatalf("position %d, want 4", p)
	}
	run(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible("#room[data-state=waiting] #position", chromedp.ByQuery))
	if p := number(t, text(t, ctx, "#position")); p != 4 {
		t.Fatalf("position %d after reload, want 4", p)
	}
	shot(t, ctx, "after-reload")

	// Closed and opened again later: the page asks the server, which knows
	// the buyer by the id this browser keeps.
	run(t, ctx, "reopen", chromedp.Navigate("about:blank"), chromedp.Navigate(s.base+"/#/drop/"+d.ID),
		chromedp.WaitVisible("#room[data-state=waiting] #position", chromedp.ByQuery))
	if p := number(t, text(t, ctx, "#position")); p != 4 {
		t.Fatalf("position %d after reopening, want 4", p)
	}
	if st := s.stats(d.ID); st.LineLength != 4 {
		t.Fatalf("line length %d, want 4: the page joined more than once", st.LineLength)
	}
}

// TestAdminCreatesAndSteers: the operator signs in, sees a validation error
// on its field, creates a queued drop, and changes the admit rate from the
// live view; the admissions rate follows.
func TestAdminCreatesAndSteers(t *testing.T) {
	s := newServer(t)
	ctx := browser(t)
	run(t, ctx, "sign-in form", chromedp.Navigate(s.base+"/admin"), chromedp.WaitVisible("#admin-token", chromedp.ByID))
	checkA11y(t, ctx, "sign-in")
	run(t, ctx, "sign in", chromedp.SendKeys("#admin-token", adminToken, chromedp.ByID), chromedp.Click("#sign-in", chromedp.ByID),
		chromedp.WaitVisible(`a[href="#/new"]`, chromedp.ByQuery))
	run(t, ctx, "new drop", chromedp.Navigate(s.base+"/admin#/new"), chromedp.WaitVisible("#create-form", chromedp.ByID))

	// A rule broken on a well-formed body comes back as 422 naming the field.
	run(t, ctx, "bad limit", chromedp.SendKeys("#f-name", "Flash coupons", chromedp.ByID),
		chromedp.SetValue("#f-admission", "queued", chromedp.ByID),
		chromedp.SendKeys("#f-stock", "100000", chromedp.ByID),
		chromedp.SendKeys("#f-per_user_limit", "500", chromedp.ByID),
		chromedp.SendKeys("#f-admit_rate", "1", chromedp.ByID),
		chromedp.Click("#create", chromedp.ByID))
	waitJS(t, ctx, "error on the field", `document.querySelector('#f-per_user_limit').getAttribute('aria-invalid') === 'true' && document.querySelector('#f-per_user_limit-error').textContent.length > 0`)
	shot(t, ctx, "validation")
	checkA11y(t, ctx, "create form")
	run(t, ctx, "fix and create", chromedp.SetValue("#f-per_user_limit", "1", chromedp.ByID), chromedp.Click("#create", chromedp.ByID),
		chromedp.WaitVisible("#stat-line-length", chromedp.ByID))
	var loc string
	run(t, ctx, "location", chromedp.Location(&loc))
	id := loc[strings.LastIndex(loc, "/")+1:]
	run(t, ctx, "live", chromedp.WaitVisible(`#live-state[data-live="true"]`, chromedp.ByQuery))

	// A crowd in line, then admission at 1/s as created.
	s.join(id, "crowd", 400)
	waitJS(t, ctx, "line shown", `Number(document.querySelector('#stat-line-length').textContent.replace(/,/g,'')) > 300`)
	waitJS(t, ctx, "admitting at about 1/s", `(() => { const v = Number(document.querySelector('#rate-admissions').textContent); return v >= 0.5 && v <= 3 })()`)
	run(t, ctx, "raise the rate", chromedp.SetValue("#c-rate", "", chromedp.ByID), chromedp.SendKeys("#c-rate", "40", chromedp.ByID),
		chromedp.Click("#c-rate-apply", chromedp.ByID))
	waitJS(t, ctx, "rate follows", `Number(document.querySelector('#rate-admissions').textContent.replace(/,/g,'')) >= 20`)
	// Let the charts draw a few seconds of the new rate for the screenshot.
	waitJS(t, ctx, "issues follow", `Number(document.querySelector('#rate-issues').textContent.replace(/,/g,'')) >= 20`)
	shot(t, ctx, "live")
	checkA11y(t, ctx, "live view")

	run(t, ctx, "pause", chromedp.Click("#c-pause", chromedp.ByID))
	waitJS(t, ctx, "paused shown", `document.querySelector('#c-pause').textContent === 'Resume'`)
	run(t, ctx, "reconcile", chromedp.Click("#c-reconcile", chromedp.ByID))
	waitJS(t, ctx, "reconciled", `/Reconciled/.test(document.querySelector('#control-msg').textContent)`)
}

// TestPhoneWidth: at 360 px every page fits the screen and still passes axe.
func TestPhoneWidth(t *testing.T) {
	s := newServer(t)
	var seats []string
	for n := 1; n <= 30; n++ {
		seats = append(seats, fmt.Sprintf("B-%d", n))
	}
	seated := s.createDrop(map[string]any{"name": "Phone concert", "kind": "seated", "region": "us-east", "seats": seats, "admission": "open"})
	queued := s.createDrop(map[string]any{"name": "Phone coupons", "kind": "general", "region": "us-east", "stock": 10, "admission": "queued", "admit_rate": 1, "paused": true})
	general := s.createDrop(map[string]any{"name": "Phone merch", "kind": "general", "region": "us-west", "stock": 10, "admission": "open"})
	s.join(queued.ID, "q", 1234)
	ctx := browser(t)
	run(t, ctx, "phone", emulation.SetDeviceMetricsOverride(360, 740, 2, true))
	for _, p := range []struct{ name, path, wait string }{
		{"drops", "/#/", ".drop-card"},
		{"waiting-room", "/#/drop/" + queued.ID, "#room[data-state=waiting] #position"},
		{"seat-map", "/#/drop/" + seated.ID, `[data-seat="B-1"]`},
		{"claim", "/#/drop/" + general.ID, "#claim"},
	} {
		run(t, ctx, p.name, chromedp.Navigate(s.base+p.path), chromedp.WaitVisible(p.wait, chromedp.ByQuery))
		shot(t, ctx, "phone-"+p.name)
		noOverflow(t, ctx, p.name)
		checkA11y(t, ctx, p.name+" at 360 px")
	}
	run(t, ctx, "claim one", chromedp.Click("#claim", chromedp.ByID), chromedp.WaitVisible("#issued-code", chromedp.ByID))
	shot(t, ctx, "phone-claimed")

	run(t, ctx, "admin", chromedp.Navigate(s.base+"/admin"), chromedp.WaitVisible("#admin-token", chromedp.ByID),
		chromedp.SendKeys("#admin-token", adminToken, chromedp.ByID), chromedp.Click("#sign-in", chromedp.ByID),
		chromedp.WaitVisible(`a[href="#/new"]`, chromedp.ByQuery),
		chromedp.Navigate(s.base+"/admin#/drop/"+queued.ID),
		chromedp.WaitVisible(`#live-state[data-live="true"]`, chromedp.ByQuery))
	waitJS(t, ctx, "figures", `Number(document.querySelector('#stat-line-length').textContent.replace(/,/g, '')) >= 1234`)
	shot(t, ctx, "phone-live")
	noOverflow(t, ctx, "live view")
	checkA11y(t, ctx, "live view at 360 px")
}

// TestAdmittedBuyerPicksASeatWithinThePass: in a seated queued drop the
// buyer's turn brings the seat map with the pass's own countdown, and a seat
// picked in time is issued.
func TestAdmittedBuyerPicksASeatWithinThePass(t *testing.T) {
	s := newServer(t)
	var seats []string
	for n := 1; n <= 16; n++ {
		seats = append(seats, fmt.Sprintf("F-%d", n))
	}
	d := s.createDrop(map[string]any{"name": "Stadium tour", "kind": "seated", "region": "eu-west", "venue": "Stadium",
		"seats": seats, "admission": "queued", "admit_rate": 5, "pass_ttl_seconds": 120, "max_active": 2})
	ctx := browser(t)
	run(t, ctx, "turn comes", chromedp.Navigate(s.base+"/#/drop/"+d.ID),
		chromedp.WaitVisible("#room[data-state=admitted] #pass-left", chromedp.ByQuery),
		chromedp.WaitVisible(`[data-seat="F-7"]`, chromedp.ByQuery))
	if left := text(t, ctx, "#pass-left"); !strings.HasPrefix(left, "1:") && !strings.HasPrefix(left, "2:") {
		t.Fatalf("pass countdown %q, want about two minutes", left)
	}
	run(t, ctx, "pick", chromedp.Click(`[data-seat="F-7"]`, chromedp.ByQuery))
	shot(t, ctx, "admitted")
	checkA11y(t, ctx, "admitted seat map")
	run(t, ctx, "claim", chromedp.Click("#claim-seat", chromedp.ByID),
		chromedp.WaitVisible("#room[data-state=issued] #issued-code", chromedp.ByQuery))
	shot(t, ctx, "issued")
}
