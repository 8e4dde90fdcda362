package e2e_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type seatBody struct {
	Label string `json:"label"`
	Taken bool   `json:"taken"`
}

type seatPageBody struct {
	Seats []seatBody `json:"seats"`
	Next  *string    `json:"next"`
}

// seatedDrop creates a seated drop of n seats named R-0000, R-0001, ...,
// given to the server in reverse so that label order is its own work.
func seatedDrop(s *stack, id string, n int) []string {
	labels := make([]string, n)
	for i := range labels {
		labels[i] = fmt.Sprintf("R-%04d", i)
	}
	reversed := slices.Clone(labels)
	slices.Reverse(reversed)
	s.createDrop(map[string]any{"id": id, "name": "Seats " + id, "kind": "seated", "seats": reversed})
	return labels
}

// seatsPage fetches one page of the seats route; query is the raw query string.
func seatsPage(t *testing.T, s *stack, id, query string) seatPageBody {
	t.Helper()
	var p seatPageBody
	s.do(req{"GET", "/v1/drops/" + id + "/seats?" + query, "", nil}).expect(t, http.StatusOK).decode(t, &p)
	if p.Seats == nil {
		t.Fatalf("seats of %s?%s: no seats array", id, query)
	}
	return p
}

// Defect 7: the route pages (1,000 seats at most), so a 2,500-seat drop takes
// three requests and no answer carries the whole drop.
func TestSeatsPaging(t *testing.T) {
	s := newStack(t, unlimited)
	labels := seatedDrop(s, "arena", 2500)

	var seen []string
	sizes := []int{}
	query := ""
	for page := 0; ; page++ {
		if page == 10 {
			t.Fatal("paging does not end")
		}
		p := seatsPage(t, s, "arena", query)
		sizes = append(sizes, len(p.Seats))
		for _, seat := range p.Seats {
			if seat.Taken {
				t.Fatalf("seat %s taken before any claim", seat.Label)
			}
			seen = append(seen, seat.Label)
		}
		if p.Next == nil {
			break
		}
		if *p.Next != p.Seats[len(p.Seats)-1].Label {
			t.Fatalf("next %q, want the page's last label %q", *p.Next, p.Seats[len(p.Seats)-1].Label)
		}
		query = "after=" + url.QueryEscape(*p.Next)
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) || !slices.Equal(seen, labels) {
		t.Fatalf("pages of %v seats; every seat in label order: %v", sizes, slices.Equal(seen, labels))
	}

	// A smaller limit, and the same walk over available seats only.
	p := seatsPage(t, s, "arena", "limit=3&after=R-0010")
	if got := []string{p.Seats[0].Label, p.Seats[1].Label, p.Seats[2].Label}; len(p.Seats) != 3 ||
		!slices.Equal(got, []string{"R-0011", "R-0012", "R-0013"}) || p.Next == nil || *p.Next != "R-0013" {
		t.Fatalf("limit=3 after R-0010: %+v", p)
	}
	s.do(req{"POST", "/v1/drops/arena/claims", `{"seat":"R-0012"}`, user("paging")}).expect(t, http.StatusCreated)
	// The snapshot may be up to a second old: wait until it has the claim.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		p := seatsPage(t, s, "arena", "available=true&limit=13")
		if !slices.ContainsFunc(p.Seats, func(x seatBody) bool { return x.Label == "R-0012" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("R-0012 still available 10s after its claim")
		}
	}
	var free []string
	query = "available=true&limit=1000"
	for page := 0; ; page++ {
		if page == 10 {
			t.Fatal("paging does not end")
		}
		p := seatsPage(t, s, "arena", query)
		for _, seat := range p.Seats {
			free = append(free, seat.Label)
		}
		if p.Next == nil {
			break
		}
		query = "available=true&limit=1000&after=" + *p.Next
	}
	want := slices.DeleteFunc(slices.Clone(labels), func(l string) bool { return l == "R-0012" })
	if !slices.Equal(free, want) {
		t.Fatalf("available seats: %d, want every seat but R-0012 (%d)", len(free), len(want))
	}

	// Past the last label: an empty page, no next.
	for _, after := range []string{"R-2499", "S", "zzz"} {
		if p := seatsPage(t, s, "arena", "after="+after); len(p.Seats) != 0 || p.Next != nil {
			t.Fatalf("after %s: %+v, want an empty page", after, p)
		}
	}
	// The last page that ends on the last seat has no next either.
	if p := seatsPage(t, s, "arena", "after=R-2497&limit=2"); len(p.Seats) != 2 || p.Next != nil {
		t.Fatalf("last page: %+v", p)
	}
}

func TestSeatsBadQuery(t *testing.T) {
	s := newStack(t, unlimited)
	seatedDrop(s, "bad-query", 3)
	for _, c := range []struct{ query, field string }{
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=-1", "limit"},
		{"limit=abc", "limit"},
		{"limit=1.5", "limit"},
		{"limit=", "limit"},
		{"limit=99999999999999999999999", "limit"},
		{"limit=%201", "limit"},
		{"after=", "after"},
		{"after=bad.label", "after"},
		{"after=" + strings.Repeat("a", 33), "after"},
		{"after=%00", "after"},
		{"after=A%20B", "after"},
		{"available=maybe", "available"},
	} {
		t.Run(c.query, func(t *testing.T) {
			p := expectProblem(t, s.do(req{"GET", "/v1/drops/bad-query/seats?" + c.query, "", nil}), http.StatusBadRequest, "invalid_query")
			if p.Field != c.field {
				t.Fatalf("field %q, want %q", p.Field, c.field)
			}
		})
	}
	// The edges of the range are good.
	if p := seatsPage(t, s, "bad-query", "limit=1"); len(p.Seats) != 1 || p.Next == nil {
		t.Fatalf("limit=1: %+v", p)
	}
	if p := seatsPage(t, s, "bad-query", "limit=1000&after="+strings.Repeat("Z", 32)); len(p.Seats) != 0 {
		t.Fatalf("limit=1000 after a 32-character label: %+v", p)
	}
}

// A page is compressed for a client that accepts gzip, and plain for one
// that does not say so.
func TestSeatsGzip(t *testing.T) {
	s := newStack(t, unlimited)
	seatedDrop(s, "zipped", 2500)

	r := s.do(req{"GET", "/v1/drops/zipped/seats", "", map[string]string{"Accept-Encoding": "gzip"}}).expect(t, http.StatusOK)
	if enc := r.header.Get("Content-Encoding"); enc != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", enc)
	}
	if !strings.Contains(r.header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary %q: a cache between must keep the encodings apart", r.header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var p seatPageBody
	if err := json.Unmarshal(plain, &p); err != nil {
		t.Fatalf("decode the gunzipped page: %v", err)
	}
	if len(p.Seats) != 1000 || p.Next == nil || *p.Next != "R-0999" {
		t.Fatalf("gzip page: %d seats, next %v", len(p.Seats), p.Next)
	}
	if len(r.body)*4 > len(plain) {
		t.Errorf("gzip page is %d bytes for %d of JSON", len(r.body), len(plain))
	}
	t.Logf("a full page: %d bytes of JSON, %d gzipped", len(plain), len(r.body))

	// A client that does not take gzip gets the JSON as it is.
	for _, accept := range []string{"identity", "gzip;q=0", "br"} {
		r := s.do(req{"GET", "/v1/drops/zipped/seats", "", map[string]string{"Accept-Encoding": accept}}).expect(t, http.StatusOK)
		if enc := r.header.Get("Content-Encoding"); enc != "" || !json.Valid(r.body) || !bytes.Equal(r.body, plain) {
			t.Fatalf("Accept-Encoding %s: Content-Encoding %q, body %.80q", accept, enc, r.body)
		}
	}
}

// A claimed seat shows taken once the one second the cache may lag is up.
func TestSeatsShowAClaimWithinASecond(t *testing.T) {
	s := newStack(t, unlimited)
	seatedDrop(s, "fresh", 10)
	taken := func() bool {
		for _, seat := range seatsPage(t, s, "fresh", "limit=10").Seats {
			if seat.Label == "R-0004" {
				return seat.Taken
			}
		}
		t.Fatal("no seat R-0004")
		return false
	}
	// Warm this instance's cache with the seat still free.
	if taken() {
		t.Fatal("R-0004 taken before any claim")
	}
	s.do(req{"POST", "/v1/drops/fresh/claims", `{"seat":"R-0004"}`, user("fresh")}).expect(t, http.StatusCreated)
	claimed := time.Now()
	// Any answer may still be the cached one while the second lasts.
	for time.Since(claimed) < time.Second {
		if taken() {
			t.Logf("R-0004 showed taken %s after the claim", time.Since(claimed).Round(time.Millisecond))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A second after the claim was answered, every snapshot the server may
	// answer from was read after it.
	if !taken() {
		t.Fatalf("R-0004 still shows free %s after its claim", time.Since(claimed).Round(time.Millisecond))
	}
	var p seatPageBody
	s.do(req{"GET", "/v1/drops/fresh/seats?available=true", "", nil}).expect(t, http.StatusOK).decode(t, &p)
	for _, seat := range p.Seats {
		if seat.Label == "R-0004" {
			t.Fatal("R-0004 listed as available after it showed taken")
		}
	}
}
