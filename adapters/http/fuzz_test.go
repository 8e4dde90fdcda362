package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
)

// The fuzz targets' seed corpora are in testdata/fuzz/<target>/; `go test`
// replays them on every run and `make fuzz` explores from them.

// checkDecodeError holds for every decode failure: an *apiError answering
// 400 invalid_body or 422 validation_failed, never anything else.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("decode error is not an apiError: %T %v", err, err)
	}
	switch {
	case ae.status == http.StatusBadRequest && ae.code == CodeInvalidBody:
	case ae.status == http.StatusUnprocessableEntity && ae.code == CodeValidationFailed:
	default:
		t.Fatalf("decode answered %d %s", ae.status, ae.code)
	}
	if ae.field != "" && reportable(ae.field) != ae.field {
		t.Fatalf("field %q echoes arbitrary bytes", ae.field)
	}
}

// checkAccepted holds for every body the strict decoder accepts.
func checkAccepted(t *testing.T, body []byte) {
	t.Helper()
	if !utf8.Valid(body) {
		t.Fatalf("accepted invalid UTF-8: %q", body)
	}
	if !json.Valid(body) && len(bytes.TrimSpace(body)) > 0 {
		t.Fatalf("accepted invalid JSON: %q", body)
	}
}

// cleanStrings fails when any string reachable from v holds a forbidden character.
func cleanStrings(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		if !cleanString(v.String()) {
			t.Fatalf("accepted a forbidden character in %q", v.String())
		}
	case reflect.Pointer:
		if !v.IsNil() {
			cleanStrings(t, v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			cleanStrings(t, v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				cleanStrings(t, v.Field(i))
			}
		}
	}
}

// roundTrip re-encodes what was decoded and decodes it again: the strict
// decoder must accept its own output and read the same value back.
func roundTrip[T any](t *testing.T, got T) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	var again T
	if err := decodeBody(b, &again, false); err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, again) {
		t.Fatalf("round trip changed the value:\n%#v\n%#v", got, again)
	}
}

func FuzzDecodeCreateDrop(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var req createDropRequest
		if err := decodeBody(body, &req, false); err != nil {
			checkDecodeError(t, err)
			return
		}
		checkAccepted(t, body)
		cleanStrings(t, reflect.ValueOf(req))
		roundTrip(t, req)
	})
}

func FuzzDecodePatchDrop(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var req patchDropRequest
		if err := decodeBody(body, &req, false); err != nil {
			checkDecodeError(t, err)
			return
		}
		checkAccepted(t, body)
		if _, err := req.update(); err != nil {
			checkDecodeError(t, err)
		}
		// closes_at is kept raw (absent differs from null), so the round
		// trip covers the typed members.
		typed := struct {
			AdmitRate *int  `json:"admit_rate"`
			Paused    *bool `json:"paused"`
		}{req.AdmitRate, req.Paused}
		roundTrip(t, typed)
	})
}

func FuzzDecodeClaim(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var req claimRequest
		if err := decodeBody(body, &req, true); err != nil {
			checkDecodeError(t, err)
			return
		}
		checkAccepted(t, body)
		cleanStrings(t, reflect.ValueOf(req))
		roundTrip(t, req)
		var empty emptyRequest
		if err := decodeBody(body, &empty, true); err == nil && req.Seat != "" {
			t.Fatalf("the empty body type accepted a seat: %q", body)
		}
	})
}

const fuzzSecret = "fuzz-jwt-secret-0123456789"

// FuzzBuyerToken feeds arbitrary Authorization values to the bearer and JWT
// parsing of buyer routes: nothing panics, and only an HS256 token signed
// with the secret, unexpired, with a valid subject is accepted.
func FuzzBuyerToken(f *testing.F) {
	a := newAuthenticator("admin-token", fuzzSecret)
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := bearer(header)
		if !ok {
			return
		}
		if tok == "" || tok != strings.TrimSpace(tok) {
			t.Fatalf("bearer(%q) = %q", header, tok)
		}
		sub, err := a.buyer(tok)
		if err != nil {
			return
		}
		if !drop.ValidID(sub) {
			t.Fatalf("accepted subject %q", sub)
		}
		// Accepted means verifiable with the secret as HS256 with an expiry.
		parsed, perr := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(fuzzSecret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
		if perr != nil || !parsed.Valid {
			t.Fatalf("accepted %q that a plain HS256 check refuses: %v", tok, perr)
		}
	})
}

// fuzzServer is one server over memory adapters, shared by the fuzz
// iterations of a process: building one per input would dominate the run.
var fuzzServer = sync.OnceValue(func() *Server {
	st := application.Stores{
		Drops: memory.NewDrops(), Inventory: memory.NewInventory(), Line: memory.NewLine(),
		Ledger: memory.NewLedger(), Lease: memory.NewLease(nil),
	}
	cache := application.NewDropCache(st.Drops, 500*time.Millisecond)
	recon := application.NewReconciler(st, zap.NewNop())
	sales := application.NewSales(st, cache, recon, application.SalesOptions{}, zap.NewNop())
	catalog := application.NewCatalog(st, cache, recon)
	reg := prometheus.NewRegistry()
	return New(Config{AdminToken: "fuzz-admin-token", RatePerUser: -1}, sales, catalog, nil, reg, reg, nil)
})

// fuzzMarker is the credential every fuzzed request carries; no answer may
// hold it.
const fuzzMarker = "SECRETfuzzcredential"

// FuzzProblemWriter sends requests with arbitrary header names, values,
// methods, paths and bodies through the whole server, fasthttp's parser
// included, and checks every answer: never 5xx, every error problem+json with
// a code, and no answer echoing a header value.
func FuzzProblemWriter(f *testing.F) {
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, method, path, name, value string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \r\n\t") {
			method = http.MethodPost
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?") {
			path = "/v1/admin/drops"
		}
		req, err := http.NewRequest(http.MethodGet, "http://fastdeal"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Method = method
		req.Header = http.Header{
			"Authorization": {"Bearer " + fuzzMarker + value},
			"X-User-Id":     {fuzzMarker},
		}
		if name != "" {
			req.Header[name] = append(req.Header[name], fuzzMarker+value)
		}
		res, err := s.app.Test(req, -1)
		if err != nil {
			return // fasthttp closed the connection without an answer
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		if res.StatusCode < 400 {
			return
		}
		all := string(b)
		for k, vs := range res.Header {
			if !strings.EqualFold(k, "X-Request-Id") {
				all += k + strings.Join(vs, "")
			}
		}
		// The request id is echoed by design, and a member name from the
		// body may be named; neither is a header value leaking.
		if strings.Contains(all, fuzzMarker) && !strings.EqualFold(name, "X-Request-ID") && !bytes.Contains(body, []byte(fuzzMarker)) {
			t.Fatalf("the answer echoes a header value: %s", all)
		}
		if ct := res.Header.Get("Content-Type"); ct != problemContentType {
			t.Fatalf("%d with Content-Type %q: %s", res.StatusCode, ct, b)
		}
		var p problem
		if err := json.Unmarshal(b, &p); err != nil || p.Code == "" || p.Status != res.StatusCode || p.Detail == "" {
			t.Fatalf("not a problem: %s (%v)", b, err)
		}
	})
}

// FuzzToProblem checks the error table on arbitrary Fiber errors, the ones
// fasthttp raises with the raw request in their message: the message never
// reaches the problem, whose code and detail depend on the status alone.
func FuzzToProblem(f *testing.F) {
	f.Fuzz(func(t *testing.T, code int, message string) {
		if code < 100 || code > 599 {
			code = http.StatusBadRequest
		}
		p, _, _ := toProblem(fiber.NewError(code, message))
		fixed, _, _ := toProblem(fiber.NewError(code, ""))
		if p.Code == "" || p.Status != code || p.Detail == "" {
			t.Fatalf("problem %+v for %d", p, code)
		}
		if p.Code != fixed.Code || p.Detail != fixed.Detail {
			t.Fatalf("the message %q changed the problem: %+v", message, p)
		}
	})
}

// TestDeepNesting is the body the nesting bound is for: four million '['
// within the body limit answer 400 instead of exhausting the stack.
func TestDeepNesting(t *testing.T) {
	for _, body := range [][]byte{
		bytes.Repeat([]byte("["), DefaultBodyLimit),
		[]byte(strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)),
		[]byte(`{"seats":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`),
	} {
		var req createDropRequest
		err := decodeBody(body, &req, false)
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
			t.Fatalf("%.20s...: %v", body, err)
		}
	}
}
