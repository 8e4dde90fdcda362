package httpapi

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
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

// etaBefore is how the waiting answer wrote eta_seconds before appendETA.
func etaBefore(eta float64) string {
	if math.IsNaN(eta) || math.IsInf(eta, 0) || eta < 0 {
		eta = 0
	}
	return strconv.FormatFloat(math.Round(eta*1000)/1000, 'f', -1, 64)
}

var etaSeeds = []float64{0, -0.0, -1, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.16, 0.2, 0.5, 0.9995, 1, 1.05,
	12.3456, 999.999, 1000, 86399.9999, 1e9 + 0.123, 1e12 - 0.001, 1e12, 1e12 + 0.5, 1e15, 1e300,
	math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64}

// checkETA fails t unless appendETA writes eta as etaBefore does.
func checkETA(t *testing.T, eta float64) {
	t.Helper()
	if got, want := string(appendETA(nil, eta)), etaBefore(eta); got != want {
		t.Fatalf("eta %v: got %s, want %s", eta, got, want)
	}
}

func TestAppendETAMatchesStrconv(t *testing.T) {
	for _, eta := range etaSeeds {
		checkETA(t, eta)
	}
	// Every millisecond of the first 100 seconds, and a spread of larger
	// values at every scale a line can have.
	for ms := range 100_000 {
		checkETA(t, float64(ms)/1000)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		checkETA(t, math.Pow(10, r.Float64()*16)*r.Float64())
	}
}

func FuzzAppendETA(f *testing.F) {
	for _, eta := range etaSeeds {
		f.Add(eta)
	}
	f.Fuzz(checkETA)
}
