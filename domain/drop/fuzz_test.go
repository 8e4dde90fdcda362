package drop_test

import (
	"testing"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// reference is the rule of docs/openapi.yaml spelled out byte by byte: 1 to max of
// [A-Za-z0-9_-].
func reference(s string, maxLen int) bool {
	if len(s) < 1 || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// FuzzValidID checks ValidID against the reference rule: an id that passes is
// safe in a path, a Redis key and a log line, whatever the bytes sent.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"", "a", "demo-concert", "A_1-b", "a/b", "a b", "é", "a\x00", "a.b", "%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := drop.ValidID(s)
		if want := reference(s, drop.MaxIDLen); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
		}
		// A prefix of a valid id is valid unless empty: no multi-byte tricks.
		if got && len(s) > 1 && !drop.ValidID(s[:len(s)-1]) {
			t.Fatalf("ValidID(%q) but not its prefix", s)
		}
	})
}

// FuzzValidSeatLabel checks ValidSeatLabel against the reference rule.
func FuzzValidSeatLabel(f *testing.F) {
	for _, s := range []string{"", "A-1", "B_12", "a b", "A\u202e1", "A-10\x00", "x", "ÄÖ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := drop.ValidSeatLabel(s)
		if want := reference(s, drop.MaxSeatLabelLen); got != want {
			t.Fatalf("ValidSeatLabel(%q) = %v, want %v", s, got, want)
		}
		if got && !drop.ValidID(s) {
			t.Fatalf("seat label %q is not a valid id, though the rule is narrower", s)
		}
	})
}
