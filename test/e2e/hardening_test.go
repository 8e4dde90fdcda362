package e2e_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
)

// secretToken stands for a credential a client sends; no answer may hold it.
const secretToken = "SECRET-e2e-credential-5f1c"

// rawAnswer is what the server wrote on one connection: the responses it sent
// before the connection ended, and whether it closed the connection itself.
type rawAnswer struct {
	responses []resp
	closed    bool
}

// raw writes payload on a fresh connection and reads responses. With untilEnd
// it keeps reading until the server closes the connection (or the deadline
// passes, which counts as left open); otherwise it stops after the first.
func (s *stack) raw(t *testing.T, payload string, untilEnd bool) rawAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Generous: a busy machine must not make an open connection look closed,
	// and a closed one is seen at once.
	if err := conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, payload); err != nil {
		t.Fatal(err)
	}
	var a rawAnswer
	br := bufio.NewReader(conn)
	for {
		hr, err := http.ReadResponse(br, nil)
		if err != nil {
			a.closed = !errors.Is(err, os.ErrDeadlineExceeded)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				a.closed = false
			}
			break
		}
		b, err := io.ReadAll(hr.Body)
		hr.Body.Close()
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		a.responses = append(a.responses, resp{status: hr.StatusCode, header: hr.Header, body: b})
		if !untilEnd {
			break
		}
	}
	if len(a.responses) == 0 {
		t.Fatalf("no response to %q", payload)
	}
	return a
}

// expectProblem checks one answer: the status, problem+json with the code,
// and none of the forbidden strings anywhere in the headers or body.
func expectProblem(t *testing.T, r resp, status int, code string, forbidden ...string) problemBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	var p problemBody
	r.decode(t, &p)
	if p.Code != code || p.Status != status || p.Detail == "" || p.Type != "about:blank" {
		t.Fatalf("problem %+v, want code %q status %d", p, code, status)
	}
	all := string(r.body)
	for k, vs := range r.header {
		all += "\n" + k + ": " + strings.Join(vs, ",")
	}
	for _, f := range forbidden {
		if f != "" && strings.Contains(all, f) {
			t.Fatalf("the answer echoes %q: %s", f, all)
		}
	}
	return p
}

// TestMalformedHeaderEchoesNothing is defect 1: fasthttp's parse error quotes
// the whole request, and the problem detail used to carry it, credentials and all.
func TestMalformedHeaderEchoesNothing(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createDrop(map[string]any{"id": "gen", "name": "General", "kind": "general", "stock": 10})
	for name, payload := range map[string]string{
		"space in a header name":  "GET /v1/admin/drops/gen/stats HTTP/1.1\r\nHost: fastdeal\r\nAuthorization: Bearer " + secretToken + "\r\nBad Header: x\r\n\r\n",
		"header without a colon":  "GET /v1/admin/drops/gen/stats HTTP/1.1\r\nHost: fastdeal\r\nAuthorization: Bearer " + secretToken + "\r\nNoColonHere\r\n\r\n",
		"control byte in a value": "GET /v1/admin/drops/gen/stats HTTP/1.1\r\nHost: fastdeal\r\nAuthorization: Bearer " + secretToken + "\r\nX-A: a\x01b\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			a := s.raw(t, payload, false)
			expectProblem(t, a.responses[0], 400, httpapi.CodeMalformedRequest, secretToken, "Bearer", "Bad Header", "NoColonHere", "fastdeal\r")
		})
	}
}

// TestPreRoutingErrorsAreProblems is defect 4: what fasthttp rejects before
// routing, and an HTTP/1.1 request without Host, answer problem+json with a
// stable code like every other error.
// TestHeadersUpToEightKiBPass: nginx in front accepts 8 KiB of request line
// and headers, and so does the app (its read buffer was 4 KiB, so a request
// between the two passed nginx and got 431).
func TestHeadersUpToEightKiBPass(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.do(req{"GET", "/v1/drops", "", map[string]string{"X-Big": strings.Repeat("b", 7000)}}).expect(t, http.StatusOK)
}

func TestPreRoutingErrorsAreProblems(t *testing.T) {
	s := newStack(t, stackOptions{})
	auth := "Authorization: Bearer " + secretToken + "\r\n"
	cases := []struct {
		name, payload string
		status        int
		code          string
	}{
		{"missing Host on HTTP/1.1", "GET /v1/drops HTTP/1.1\r\n" + auth + "\r\n", 400, httpapi.CodeMalformedRequest},
		{"empty Host on HTTP/1.1", "GET /v1/drops HTTP/1.1\r\nHost: \r\n" + auth + "\r\n", 400, httpapi.CodeMalformedRequest},
		{"two Hosts", "GET /v1/drops HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + auth + "\r\n", 400, httpapi.CodeMalformedRequest},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, httpapi.CodeMalformedRequest},
		{"garbage request line", "HELLO\r\n" + auth + "\r\n", 400, httpapi.CodeMalformedRequest},
		{"request line without version", "GET /v1/drops\r\nHost: a\r\n" + auth + "\r\n", 400, httpapi.CodeMalformedRequest},
		{"unknown HTTP version", "GET /v1/drops HTTP/9.9\r\nHost: a\r\n" + auth + "\r\n", 400, httpapi.CodeMalformedRequest},
		{"header over the limit", "GET /v1/drops HTTP/1.1\r\nHost: a\r\n" + auth + "X-Big: " + strings.Repeat("b", 9000) + "\r\n\r\n", 431, httpapi.CodeHeaderTooLarge},
		{"space before the colon", "GET /v1/drops HTTP/1.1\r\nHost: a\r\n" + auth + "X-A : b\r\n\r\n", 400, httpapi.CodeMalformedRequest},
		{"unknown method", "FOO /v1/drops HTTP/1.1\r\nHost: a\r\n" + auth + "\r\n", 405, httpapi.CodeMethodNotAllowed},
		{"PRI as a method", "PRI /v1/drops HTTP/1.1\r\nHost: a\r\n" + auth + "\r\n", 405, httpapi.CodeMethodNotAllowed},
		{"folded header", "GET /v1/drops HTTP/1.1\r\nHost: a\r\n" + auth + "X-A: b\r\n c\r\n\r\n", 400, httpapi.CodeMalformedRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := s.raw(t, tc.payload, false)
			expectProblem(t, a.responses[0], tc.status, tc.code, secretToken)
		})
	}
	// HTTP/1.0 never required Host.
	a := s.raw(t, "GET /v1/drops HTTP/1.0\r\n\r\n", false)
	if a.responses[0].status != 200 {
		t.Fatalf("HTTP/1.0 without Host: %v", a.responses[0])
	}
}

// TestRequestFraming is defect 9: framing RFC 9112 says to reject gets 400
// and the connection ends, so the bytes after it are never a second request.
func TestRequestFraming(t *testing.T) {
	s := newStack(t, stackOptions{cfg: httpapi.Config{RatePerUser: -1}})
	s.createDrop(map[string]any{"id": "gen", "name": "General", "kind": "general", "stock": 10})
	// The smuggled request would answer 200 with the drop list.
	const smuggled = "GET /v1/drops HTTP/1.1\r\nHost: a\r\n\r\n"
	head := "POST /v1/drops/gen/claims HTTP/1.1\r\nHost: a\r\nX-User-ID: buyer-1\r\nAuthorization: Bearer " + secretToken + "\r\n"
	cases := map[string]string{
		"Content-Length with chunked":     head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"chunked with Content-Length":     head + "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled,
		"Content-Length with identity":    head + "Content-Length: 2\r\nTransfer-Encoding: identity\r\n\r\n{}" + smuggled,
		"two differing Content-Lengths":   head + "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}" + smuggled,
		"a Content-Length list":           head + "Content-Length: 2, 40\r\n\r\n{}" + smuggled,
		"signed Content-Length":           head + "Content-Length: +2\r\n\r\n{}" + smuggled,
		"xchunked":                        head + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled,
		"chunked then an unknown coding":  head + "Transfer-Encoding: chunked, x\r\n\r\n0\r\n\r\n" + smuggled,
		"gzip, chunked":                   head + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"chunked twice":                   head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"Transfer-Encoding on HTTP/1.0":   strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"space-padded Transfer-Encoding ": head + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"bad chunk size":                  head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n" + smuggled,
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			a := s.raw(t, payload, true)
			expectProblem(t, a.responses[0], 400, httpapi.CodeMalformedRequest, secretToken)
			if len(a.responses) > 1 {
				t.Fatalf("the leftover bytes were served as a second request: %v", a.responses[1])
			}
			if !a.closed {
				t.Fatal("the connection stayed open after a framing error")
			}
		})
	}
	// A well-framed pipelined pair is still two requests on one connection.
	pair := strings.Replace(head, "buyer-1", "buyer-2", 1) + "Content-Length: 2\r\n\r\n{}"
	a := s.raw(t, pair+strings.Replace(smuggled, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1), true)
	if len(a.responses) != 2 || a.responses[0].status != 201 || a.responses[1].status != 200 {
		t.Fatalf("pipelined pair: %v", a.responses)
	}
}

// TestStrictJSON is defects 2 and 3: member names match exactly, a member
// given twice is refused, strings carry no control or bidi characters, and
// the body must be UTF-8.
func TestStrictJSON(t *testing.T) {
	s := newStack(t, stackOptions{cfg: httpapi.Config{RatePerUser: -1}})
	s.createDrop(map[string]any{"id": "seated", "name": "Seated", "kind": "seated", "seats": []string{"A-10", "A-11"}})
	s.createDrop(map[string]any{"id": "gen", "name": "General", "kind": "general", "stock": 5})
	buyer := user("buyer-1")
	cases := []struct {
		name   string
		r      req
		status int
		code   string
		field  string
	}{
		{"member in upper case", req{"POST", "/v1/drops/seated/claims", `{"SEAT":"A-10"}`, buyer}, 400, "invalid_body", "SEAT"},
		{"member in mixed case", req{"POST", "/v1/drops/seated/claims", `{"Seat":"A-10"}`, buyer}, 400, "invalid_body", "Seat"},
		{"member given twice", req{"POST", "/v1/drops/seated/claims", `{"seat":"A-10","seat":"A-11"}`, buyer}, 400, "invalid_body", "seat"},
		{"member twice, other case", req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":5,"STOCK":7}`, admin()}, 400, "invalid_body", "STOCK"},
		{"stock twice", req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":5,"stock":7}`, admin()}, 400, "invalid_body", "stock"},
		{"escaped member name twice", req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":5,"st\u006fck":7}`, admin()}, 400, "invalid_body", "stock"},
		{"patch member in upper case", req{"PATCH", "/v1/admin/drops/gen", `{"PAUSED":true}`, admin()}, 400, "invalid_body", "PAUSED"},
		{"patch member twice", req{"PATCH", "/v1/admin/drops/gen", `{"paused":true,"paused":false}`, admin()}, 400, "invalid_body", "paused"},
		{"patch closes_at twice", req{"PATCH", "/v1/admin/drops/gen", `{"closes_at":null,"closes_at":null}`, admin()}, 400, "invalid_body", "closes_at"},
		{"line body in upper case", req{"POST", "/v1/drops/gen/line", `{"X":1}`, buyer}, 400, "invalid_body", "X"},
		{"NUL in a name", req{"POST", "/v1/admin/drops", `{"name":"accept \u0000 bad","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "name"},
		{"ANSI escape in a name", req{"POST", "/v1/admin/drops", `{"name":"accept \u001b[31m bad","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "name"},
		{"bell in a region", req{"POST", "/v1/admin/drops", `{"name":"N","region":"eu\u0007","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "region"},
		{"tab in a venue", req{"POST", "/v1/admin/drops", `{"name":"N","venue":"a\tb","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "venue"},
		{"DEL in a name", req{"POST", "/v1/admin/drops", "{\"name\":\"a\x7fb\",\"kind\":\"general\",\"stock\":5}", admin()}, 422, "validation_failed", "name"},
		{"raw newline escape in a name", req{"POST", "/v1/admin/drops", `{"name":"a\nb","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "name"},
		{"RLO in a name", req{"POST", "/v1/admin/drops", `{"name":"abc\u202Egpj.exe","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "name"},
		{"LRE in a venue", req{"POST", "/v1/admin/drops", "{\"name\":\"N\",\"venue\":\"x\u202ay\",\"kind\":\"general\",\"stock\":5}", admin()}, 422, "validation_failed", "venue"},
		{"isolate in a region", req{"POST", "/v1/admin/drops", `{"name":"N","region":"\u2066x\u2069","kind":"general","stock":5}`, admin()}, 422, "validation_failed", "region"},
		{"control in a kind", req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general\u0000","stock":5}`, admin()}, 422, "validation_failed", "kind"},
		{"control in a seat", req{"POST", "/v1/admin/drops", `{"name":"N","kind":"seated","seats":["A-1","A\u00002"]}`, admin()}, 422, "validation_failed", "seats"},
		{"control in a claimed seat", req{"POST", "/v1/drops/seated/claims", `{"seat":"A-10\u0000"}`, buyer}, 422, "validation_failed", "seat"},
		{"control in an opens_at", req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":5,"opens_at":"2030-01-01T00:00:00Z\u0000"}`, admin()}, 422, "validation_failed", "opens_at"},
		{"invalid UTF-8 in a name", req{"POST", "/v1/admin/drops", "{\"name\":\"caf\xe9\",\"kind\":\"general\",\"stock\":5}", admin()}, 400, "invalid_body", ""},
		{"truncated UTF-8 sequence", req{"POST", "/v1/admin/drops", "{\"name\":\"\xe2\x82\",\"kind\":\"general\",\"stock\":5}", admin()}, 400, "invalid_body", ""},
		{"overlong UTF-8", req{"POST", "/v1/admin/drops", "{\"name\":\"\xc0\xaf\",\"kind\":\"general\",\"stock\":5}", admin()}, 400, "invalid_body", ""},
		{"UTF-8 surrogate bytes", req{"POST", "/v1/admin/drops", "{\"name\":\"\xed\xa0\x80\",\"kind\":\"general\",\"stock\":5}", admin()}, 400, "invalid_body", ""},
		{"lone surrogate escape", req{"POST", "/v1/admin/drops", `{"name":"a\ud800b","kind":"general","stock":5}`, admin()}, 400, "invalid_body", "name"},
		{"invalid UTF-8 in a claim", req{"POST", "/v1/drops/seated/claims", "{\"seat\":\"A-1\xff\"}", buyer}, 400, "invalid_body", ""},
		{"invalid UTF-8 outside strings", req{"PATCH", "/v1/admin/drops/gen", "{\"paused\":true}\xff", admin()}, 400, "invalid_body", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			p := expectProblem(t, s.do(tc.r), tc.status, tc.code)
			if tc.field != "" && p.Field != tc.field {
				t.Fatalf("field %q, want %q (%s)", p.Field, tc.field, p.Detail)
			}
		})
	}
	s.t = t
	// Nothing above sold or created anything, and what is allowed still is.
	var d dropBody
	s.do(req{"GET", "/v1/drops/seated", "", nil}).expect(t, 200).decode(t, &d)
	if d.Remaining != 2 {
		t.Fatalf("seated remaining %d after rejected claims, want 2", d.Remaining)
	}
	var list struct {
		Drops []dropBody `json:"drops"`
	}
	s.do(req{"GET", "/v1/drops", "", nil}).expect(t, 200).decode(t, &list)
	if len(list.Drops) != 2 {
		t.Fatalf("%d drops after rejected creates, want 2", len(list.Drops))
	}
	created := s.createDrop(map[string]any{"name": "Café «Zürich» 東京 🎫", "region": "eu-west", "kind": "general", "stock": 1})
	if created.Name != "Café «Zürich» 東京 🎫" {
		t.Fatalf("name %q", created.Name)
	}
	s.do(req{"POST", "/v1/drops/seated/claims", `{"seat":"A-10"}`, buyer}).expect(t, 201)
}
