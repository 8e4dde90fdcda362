package clock

import (
	"regexp"
	"testing"
)

func TestRandomIDsAreWellFormedAndUnique(t *testing.T) {
	idRe := regexp.MustCompile(`^[0-9a-z]{24}$`)
	codeRe := regexp.MustCompile(`^[A-Z2-9]{10}$`)
	seen := make(map[string]bool, 100_000)
	var g RandomIDs
	for range 100_000 {
		id := g.NewID()
		if !idRe.MatchString(id) {
			t.Fatalf("malformed id %q", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if c := g.NewCode(); !codeRe.MatchString(c) {
			t.Fatalf("malformed code %q", c)
		}
	}
}
