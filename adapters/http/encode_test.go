package httpapi

import (
	"encoding/json"
	"testing"
	"time"
)

var jsonStringSeeds = []string{
	"", "plain", "u-1_A", `quote " and \ backslash`, "<script>&amp;</script>",
	"\x00\x01\b\f\n\r\t\x1f\x7f", "héllo wörld", "日本語", "\u2028\u2029", "bad \xff\xfe utf8",
	"\xe2\x80", "emoji 🎫", "tab\tend",
}

func TestHandBuiltJSONMatches(t *testing.T) {
	at := time.Date(2026, 11, 26, 8, 30, 1, 123456000, time.UTC)
	for _, s := range jsonStringSeeds {
		for _, when := range []time.Time{at, at.Truncate(time.Second), at.In(time.FixedZone("KST", 9*3600))} {
			iss := IssuanceJSON{ID: "id-" + s, DropID: "d", UserID: s, Seat: s, Code: "ABC", IssuedAt: when}
			want, err := json.Marshal(claimJSON{Status: "issued", Issuance: iss})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendClaimIssued(nil, iss); string(got) != string(want) {
				t.Fatalf("for %q at %v:\n got %s\nwant %s", s, when, got, want)
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
