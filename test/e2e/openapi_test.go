package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/fastdeal/fastdeal/docs"
)

// contract is docs/openapi.yaml and a router over its paths, loaded once by
// TestMain: every answer the e2e tests get through try is checked against it,
// so the document cannot drift from what the server really says.
var contract struct {
	doc    *openapi3.T
	router routers.Router
}

// loadContract parses and validates the document and builds its router.
func loadContract() error {
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		return fmt.Errorf("load docs/openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return fmt.Errorf("validate docs/openapi.yaml: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return fmt.Errorf("route docs/openapi.yaml: %w", err)
	}
	contract.doc, contract.router = doc, router
	return nil
}

// checkContract validates one real answer against the document: its status
// must be documented (a listed one or the default), its Content-Type must be
// one the status lists, and its body must match that schema. Requests to
// paths or methods the document does not have are not checked here: the
// route test in adapters/http keeps the document and the router in step, and
// such requests are how the tests probe 404 and 405.
func checkContract(hr *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := contract.router.FindRoute(hr)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find route: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			// A body the client asked to keep compressed is not JSON to
			// look into; its status and media type are still checked.
			ExcludeResponseBody: header.Get("Content-Encoding") != "",
			MultiError:          true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s answered %d %s, which docs/openapi.yaml does not allow: %w",
			hr.Method, route.Path, status, header.Get("Content-Type"), err)
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt == "application/problem+json" {
		var p struct{ Status int }
		if err := json.Unmarshal(body, &p); err != nil || p.Status != status {
			return fmt.Errorf("%s %s answered %d with a problem whose status is %d", hr.Method, route.Path, status, p.Status)
		}
	}
	if status >= 200 && status < 300 {
		return checkAccepted(hr, route, params)
	}
	return nil
}

// checkAccepted validates a request the server accepted against the
// document: were the document stricter than the server (a bound, a required
// member, a security scheme), a generated client would refuse what works.
func checkAccepted(hr *http.Request, route *routers.Route, params map[string]string) error {
	r := hr.Clone(context.Background())
	if hr.GetBody != nil {
		body, err := hr.GetBody()
		if err != nil {
			return err
		}
		r.Body = body
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			SkipSettingDefaults: true,
			AuthenticationFunc:  presentCredentials,
		},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("the server accepted %s %s, which docs/openapi.yaml does not allow: %w", hr.Method, route.Path, err)
	}
	return nil
}

// presentCredentials holds when the request carries what the scheme names;
// the server has already judged whether the credentials are good.
func presentCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	switch {
	case s.Type == "http" && s.Scheme == "bearer":
		if !strings.HasPrefix(strings.ToLower(in.RequestValidationInput.Request.Header.Get("Authorization")), "bearer ") {
			return errors.New("no bearer token")
		}
	case s.Type == "apiKey" && s.In == "header":
		if in.RequestValidationInput.Request.Header.Get(s.Name) == "" {
			return fmt.Errorf("no %s header", s.Name)
		}
	default:
		return fmt.Errorf("scheme %s %s not checked here", s.Type, s.Scheme)
	}
	return nil
}

func TestOpenAPIServed(t *testing.T) {
	s := newStack(t, stackOptions{})
	res := s.do(req{method: "GET", path: "/v1/openapi.json"}).expect(t, http.StatusOK)
	if mt, _, err := mime.ParseMediaType(res.header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", res.header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(res.body)
	if err != nil {
		t.Fatalf("load the served document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate the served document: %v", err)
	}
	if doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("served openapi %q, want 3.1", doc.OpenAPI)
	}
	if doc.Paths.Len() != contract.doc.Paths.Len() || doc.Paths.Value("/v1/drops/{id}/line/me") == nil {
		t.Fatalf("served %d paths, docs/openapi.yaml has %d", doc.Paths.Len(), contract.doc.Paths.Len())
	}
}

// TestContractCheckCatchesMismatches makes sure the check in try has teeth:
// an answer the document does not allow must be reported.
func TestContractCheckCatchesMismatches(t *testing.T) {
	get := func(path string) *http.Request {
		hr, err := http.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return hr
	}
	// post is a request with a body and, when auth names a header, a credential in it.
	post := func(path, body, auth string) *http.Request {
		hr, err := http.NewRequest(http.MethodPost, "http://127.0.0.1"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Content-Type", "application/json")
		switch auth {
		case "Authorization":
			hr.Header.Set(auth, "Bearer x")
		case "X-User-ID":
			hr.Header.Set(auth, "u1")
		}
		return hr
	}
	const drop = `{"id":"d1","name":"n","kind":"general","region":"","venue":"","stock":1,"remaining":1,` +
		`"status":"open","opens_at":null,"closes_at":null,"per_user_limit":1,"admission":"open","admit_rate":0,"line_length":0}`
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	problemHeader := http.Header{"Content-Type": {"application/problem+json"}}
	for _, c := range []struct {
		name   string
		hr     *http.Request
		status int
		header http.Header
		body   string
	}{
		{"a member of the wrong type", get("/v1/drops/d1/line/me"), 200, jsonHeader,
			`{"status":"waiting","position":"1","ahead":0,"eta_seconds":1,"poll_after_ms":1000}`},
		{"an unknown line status", get("/v1/drops/d1/line/me"), 200, jsonHeader, `{"status":"dancing"}`},
		{"poll_after_ms out of range", get("/v1/drops/d1/line/me"), 200, jsonHeader,
			`{"status":"pre_queue","opens_at":"2030-01-01T00:00:00Z","poll_after_ms":10}`},
		{"a problem without code", get("/v1/drops/d1"), 404, problemHeader,
			`{"type":"about:blank","title":"Not Found","status":404,"detail":"x"}`},
		{"an error as plain JSON", get("/v1/drops/d1"), 404, jsonHeader, `{"error":"nope"}`},
		{"stats missing a counter", get("/v1/admin/drops/d1/stats"), 200, jsonHeader, `{"issued":1}`},
		{"a time that is not RFC 3339", get("/v1/me/issuances"), 200, jsonHeader,
			`{"issuances":[{"id":"i1","drop_id":"d1","user_id":"u1","seat":"","code":"c","issued_at":"yesterday"}]}`},
		{"a problem whose status is not the answer's", get("/v1/drops/d1"), 404, problemHeader,
			`{"type":"about:blank","title":"Not Found","status":400,"detail":"x","code":"drop_not_found"}`},
		{"a claim outcome as text", post("/v1/drops/d1/claims", `{}`, "X-User-ID"), 409,
			http.Header{"Content-Type": {"text/plain"}}, `sold_out`},
		{"an accepted body the document refuses", post("/v1/admin/drops", `{"name":"n","kind":"general","stock":1,"colour":"red"}`, "Authorization"),
			201, jsonHeader, drop},
		{"an accepted buyer call without credentials", post("/v1/drops/d1/claims", `{}`, ""), 201, jsonHeader,
			`{"status":"issued","issuance":{"id":"i1","drop_id":"d1","user_id":"u1","seat":"","code":"c","issued_at":"2030-01-01T00:00:00Z"}}`},
	} {
		if err := checkContract(c.hr, c.status, c.header, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	ok := `{"status":"waiting","position":3,"ahead":2,"eta_seconds":1.5,"poll_after_ms":1000,"ticket":"abc","later":true}`
	if err := checkContract(post("/v1/admin/drops", `{"name":"n","kind":"general","stock":1}`, "Authorization"), 201, jsonHeader, []byte(drop)); err != nil {
		t.Errorf("a valid creation refused: %v", err)
	}
	buyer := get("/v1/drops/d1/line/me")
	buyer.Header.Set("X-User-ID", "u1")
	if err := checkContract(buyer, 200, jsonHeader, []byte(ok)); err != nil {
		t.Errorf("a valid answer with an extra member refused: %v", err)
	}
}
