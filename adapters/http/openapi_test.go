package httpapi_test

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/docs"
)

// loadOpenAPI parses and validates an OpenAPI document, and insists on 3.1:
// the project promises that version, and kin-openapi validates 3.0 by other
// rules (nullable, exclusive bounds) that would hide mistakes.
func loadOpenAPI(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	return doc
}

// newRouteServer builds the server only to read its route table; no route is
// called, so it needs no use cases.
func newRouteServer() *httpapi.Server {
	reg := prometheus.NewRegistry()
	return httpapi.New(httpapi.Config{AdminToken: "t"}, nil, nil, nil, reg, reg, nil)
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// routedOperations lists "METHOD /path/{param}" for every route the app
// registered. HEAD (which Fiber adds to every GET) and OPTIONS are answered
// by Fiber itself, and a wildcard serves static files, not an operation.
func routedOperations(s *httpapi.Server) []string {
	var ops []string
	for _, r := range s.App().GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == http.MethodOptions || strings.Contains(r.Path, "*") {
			continue
		}
		path := fiberParam.ReplaceAllString(r.Path, "{$1}")
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		ops = append(ops, r.Method+" "+path)
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

func documentedOperations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t, docs.OpenAPI)
	for _, name := range []string{"Drop", "Issuance", "LineAnswer", "Problem", "Stats", "CreateDrop", "PatchDrop"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("components.schemas lacks %s", name)
		}
	}
	// Request bodies are strict: the server refuses unknown members, and a
	// client generated from the document must know that.
	for _, name := range []string{"CreateDrop", "PatchDrop", "ClaimRequest", "EmptyRequest"} {
		s := doc.Components.Schemas[name]
		if s == nil || s.Value.AdditionalProperties.Has == nil || *s.Value.AdditionalProperties.Has {
			t.Errorf("request schema %s must set additionalProperties: false", name)
		}
	}
}

// TestOpenAPIDocumentsEveryRoute fails when a route is added without its
// operation in docs/openapi.yaml, or an operation is documented that the
// server does not route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t, docs.OpenAPI)
	routed := routedOperations(newRouteServer())
	documented := documentedOperations(doc)
	if len(routed) < 10 {
		t.Fatalf("only %d routes found: %v", len(routed), routed)
	}
	for _, op := range routed {
		if !slices.Contains(documented, op) {
			t.Errorf("%s is routed but not in docs/openapi.yaml", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(routed, op) {
			t.Errorf("%s is in docs/openapi.yaml but not routed", op)
		}
	}
}

func TestOpenAPIServedAsJSON(t *testing.T) {
	s := newRouteServer()
	res, err := s.App().Test(httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %.300s", res.StatusCode, body)
	}
	if mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", res.Header.Get("Content-Type"))
	}
	served := loadOpenAPI(t, body)
	if got, want := documentedOperations(served), documentedOperations(loadOpenAPI(t, docs.OpenAPI)); !slices.Equal(got, want) {
		t.Fatalf("served operations %v\nwant the YAML's %v", got, want)
	}
}
