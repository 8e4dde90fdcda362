package application

import (
	"testing"
	"time"
)

func TestPacingBounds(t *testing.T) {
	p := Pacing{Max: 30 * time.Second}.withDefaults()
	for _, eta := range []time.Duration{0, time.Millisecond, time.Second, 10 * time.Second, time.Hour, 1 << 62} {
		for range 200 {
			d := p.Waiting(eta)
			if d < minPollAfter || d > maxPollAfter || d > time.Duration(float64(p.Max)*1.2)+time.Millisecond {
				t.Fatalf("Waiting(%s) = %s: out of bounds", eta, d)
			}
		}
	}
	// It grows with the wait: the head polls about every second, the back
	// about every Max.
	near, far := p.Waiting(0), p.Waiting(time.Hour)
	if near > 1200*time.Millisecond || far < 24*time.Second {
		t.Fatalf("near %s far %s", near, far)
	}
	for _, until := range []time.Duration{-time.Second, 0, 5 * time.Second, 29 * time.Second, time.Hour} {
		for range 200 {
			d := p.PreQueue(until)
			if d < minPollAfter || d > maxPollAfter {
				t.Fatalf("PreQueue(%s) = %s: out of bounds", until, d)
			}
			if until > 0 && until <= p.Max && (d < until || d > until+p.OpenWindow) {
				t.Fatalf("PreQueue(%s) = %s: want just after opening, within the window", until, d)
			}
		}
	}
	if d := (Pacing{Max: time.Hour}).withDefaults().Waiting(time.Hour * 10); d > maxPollAfter {
		t.Fatalf("a Max beyond the API's bound gave %s", d)
	}
}
