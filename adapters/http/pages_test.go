package httpapi_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get asks the route server for path with the given request headers.
func get(t *testing.T, path string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := newRouteServer().App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestPagesServeHTML(t *testing.T) {
	for _, path := range []string{"/", "/admin"} {
		res, body := get(t, path, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if res.Header.Get("ETag") == "" || res.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: no ETag or Cache-Control: %v", path, res.Header)
		}
		// Every file the page names must be served.
		for _, m := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(string(body), -1) {
			if r, _ := get(t, m[1], nil); r.StatusCode != http.StatusOK {
				t.Errorf("%s names %s, which answers %d", path, m[1], r.StatusCode)
			}
		}
	}
}

func TestPageAssetsRevalidateWithETag(t *testing.T) {
	res, _ := get(t, "/assets/buyer.js", nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
		t.Errorf("Cache-Control %q: a module must be revalidated so a deploy never mixes versions", cc)
	}
	tag := res.Header.Get("ETag")
	again, body := get(t, "/assets/buyer.js", map[string]string{"If-None-Match": tag})
	if again.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match %s: status %d, %d bytes", tag, again.StatusCode, len(body))
	}
	if other, _ := get(t, "/assets/buyer.js", map[string]string{"If-None-Match": `"stale"`}); other.StatusCode != http.StatusOK {
		t.Fatalf("stale ETag: status %d", other.StatusCode)
	}
}

func TestPageAssetsGzipWhenAccepted(t *testing.T) {
	plain, body := get(t, "/assets/app.css", nil)
	zres, zbody := get(t, "/assets/app.css", map[string]string{"Accept-Encoding": "gzip"})
	if zres.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(zres.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("headers %v", zres.Header)
	}
	if zres.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Error("the gzipped and the plain file share an ETag")
	}
	zr, err := gzip.NewReader(strings.NewReader(string(zbody)))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil || string(unz) != string(body) {
		t.Fatalf("gzipped file differs from the plain one (%v)", err)
	}
}

func TestVendoredAssetsAreImmutable(t *testing.T) {
	res, _ := get(t, "/assets/vendor/echarts-5.6.0.simple.min.js", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("status %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}

func TestUnknownAssetIsProblem(t *testing.T) {
	for _, path := range []string{"/assets/nope.js", "/assets/../pages.go", "/assets/%2e%2e/server.go", "/assets/"} {
		res, _ := get(t, path, nil)
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: status %d, Content-Type %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

// TestWaitingRoomUnder100KB: the buyer's page with everything it loads, as
// a phone gets it (gzipped), stays under 100 KB; the chart library is only
// the operator's.
func TestWaitingRoomUnder100KB(t *testing.T) {
	gz := map[string]string{"Accept-Encoding": "gzip"}
	_, page := get(t, "/", gz)
	total := len(page)
	seen := map[string]bool{}
	queue := []string{"/assets/buyer.js"}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(gunzipped(t, page), -1) {
		queue = append(queue, m[1])
	}
	importRe := regexp.MustCompile(`from '\./([^']+)'`)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res, body := get(t, p, gz)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
		total += len(body)
		src := gunzipped(t, body)
		if strings.Contains(src, "echarts") {
			t.Errorf("%s loads the chart library; only the operator's page may", p)
		}
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			queue = append(queue, "/assets/"+m[1])
		}
	}
	if total >= 100_000 {
		t.Fatalf("the buyer's page transfers %d bytes, want under 100 KB", total)
	}
	t.Logf("buyer's page: %d bytes gzipped over %d files", total, len(seen)+1)
}

func gunzipped(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(b)))
	if err != nil {
		return string(b)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
