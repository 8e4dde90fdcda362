package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
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
	} {
		if err := checkContract(c.hr, c.status, c.header, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	ok := `{"status":"waiting","position":3,"ahead":2,"eta_seconds":1.5,"poll_after_ms":1000,"ticket":"abc","later":true}`
	if err := checkContract(get("/v1/drops/d1/line/me"), 200, jsonHeader, []byte(ok)); err != nil {
		t.Errorf("a valid answer with an extra member refused: %v", err)
	}
}
