package load

import (
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	st, err := ParseStages("60s:100, 1m30s:250.5")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0] != (Stage{time.Minute, 100}) || st[1] != (Stage{90 * time.Second, 250.5}) {
		t.Fatalf("stages = %v", st)
	}
	if got := FormatStages(st); got != "1m0s:100,1m30s:250.5" {
		t.Fatalf("FormatStages = %q", got)
	}
	for _, bad := range []string{"", "60s", "x:100", "60s:y", "60s:0", "-1s:5", "60s:-3"} {
		if _, err := ParseStages(bad); err == nil {
			t.Errorf("ParseStages(%q) accepted", bad)
		}
	}
}

// TestDefaultsMatchScenarios pins the numbers docs/scenarios.md states.
func TestDefaultsMatchScenarios(t *testing.T) {
	c := Defaults(ConcertSpike)
	if c.Stock != 10000 || totalArrivals(c.Stages) != 90000 || c.Users != 90000 {
		t.Fatalf("concert-spike defaults: stock %d, claims %d, users %d", c.Stock, totalArrivals(c.Stages), c.Users)
	}
	if FormatStages(c.Stages) != "1m0s:100,1m0s:200,1m0s:300,1m0s:400,1m0s:500" {
		t.Fatalf("concert-spike stages %s", FormatStages(c.Stages))
	}
	c = Defaults(CouponRush)
	if c.Stock != 1000 || c.Users != 20000 || c.Ramp != 10*time.Second || c.Wait != time.Second || c.Poll != 2*time.Second || c.AdmitRate != 100 {
		t.Fatalf("coupon-rush defaults %+v", c)
	}
}

func TestSpeedScaling(t *testing.T) {
	c, err := Config{Scenario: CouponRush, Speed: 40}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := c.scaled()
	if s.ramp != 250*time.Millisecond || s.wait != 25*time.Millisecond || s.poll != 50*time.Millisecond || s.admitRate != 4000 {
		t.Fatalf("coupon-rush at 40x: %+v", s)
	}
	c, _ = Config{Scenario: ConcertSpike, Speed: 40}.withDefaults()
	s = c.scaled()
	if s.stages[0] != (Stage{1500 * time.Millisecond, 4000}) || totalArrivals(s.stages) != 90000 {
		t.Fatalf("concert-spike at 40x: %v (%d arrivals)", s.stages, totalArrivals(s.stages))
	}
	// Admit rates stay inside the API's bounds whatever the speed.
	c, _ = Config{Scenario: CouponRush, Speed: 0.001, AdmitRate: 1}.withDefaults()
	if got := c.scaled().admitRate; got != 1 {
		t.Fatalf("admit rate floor: %d", got)
	}
	c, _ = Config{Scenario: CouponRush, Speed: 1e6}.withDefaults()
	if got := c.scaled().admitRate; got != 1000000 {
		t.Fatalf("admit rate ceiling: %d", got)
	}
}

func TestConcertUsersFollowCustomStages(t *testing.T) {
	c, err := Config{Scenario: ConcertSpike, Stages: []Stage{{time.Second, 50}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Users != 50 {
		t.Fatalf("users = %d, want one per claim (50)", c.Users)
	}
}

func TestIdentities(t *testing.T) {
	ids, hs, err := identities(2, "", time.Now())
	if err != nil || ids[1] != "u0000002" || hs[1] != (header{"X-User-ID", "u0000002"}) {
		t.Fatalf("X-User-ID identities: %v %v %v", ids, hs, err)
	}
	_, hs, err = identities(2, "k", time.Now().Add(time.Hour))
	if err != nil || hs[0].key != "Authorization" || len(hs[0].value) < 40 || hs[0].value == hs[1].value {
		t.Fatalf("JWT identities: %v %v", hs, err)
	}
}

// TestPrequeueWindowScales: the ten-minute pre-queue is a duration like any
// other, divided by --speed; without a pre-queue there is no window.
func TestPrequeueWindowScales(t *testing.T) {
	c, err := Config{Scenario: CouponRush, Speed: 10, Prequeue: 0.3}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.PrequeueWindow != 10*time.Minute || c.scaled().prequeue != time.Minute {
		t.Fatalf("window %v, scaled %v", c.PrequeueWindow, c.scaled().prequeue)
	}
	if c, _ = (Config{Scenario: CouponRush, Speed: 10}).withDefaults(); c.scaled().prequeue != 0 {
		t.Fatalf("a window without a pre-queue: %v", c.scaled().prequeue)
	}
	for _, bad := range []Config{
		{Scenario: CouponRush, Prequeue: 1.5},
		{Scenario: CouponRush, Prequeue: -0.1},
		{Scenario: ConcertSpike, Prequeue: 0.3},
		{Scenario: CouponRush, Prequeue: 0.3, PrequeueWindow: -time.Second},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
