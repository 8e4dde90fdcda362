package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// pagesFS holds the buyer's and the operator's pages: plain HTML, CSS and
// JavaScript modules, so that serving them needs no build step. They talk to
// the API like any other client; nothing else on the server knows they exist.
//
//go:embed pages
var pagesFS embed.FS

// Cache policies. Pages and their modules are revalidated on every load (a
// 304 costs a round trip, not the bytes) so that a deploy never mixes an old
// module with a new page; files whose name carries their version never change.
const (
	cacheRevalidate = "public, no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
	// pagePolicy keeps the pages to their own origin: no inline script, no
	// third-party code, no framing. Inline styles are allowed because the
	// chart library sizes its canvases through style attributes.
	pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

// pageAsset is one embedded file, ready to send as is or gzipped.
type pageAsset struct {
	body, gz    []byte
	etag, gzTag string
	ctype       string
	cache       string
}

var (
	pageAssetsOnce sync.Once
	pageAssets     map[string]*pageAsset
)

// loadPageAssets reads, hashes and compresses every embedded file once per
// process: the files never change while it runs, and tests that build many
// servers must not pay for it each time.
func loadPageAssets() map[string]*pageAsset {
	pageAssetsOnce.Do(func() {
		pageAssets = map[string]*pageAsset{}
		err := fs.WalkDir(pagesFS, "pages", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			body, err := pagesFS.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(body)
			tag := hex.EncodeToString(sum[:12])
			a := &pageAsset{body: body, etag: `"` + tag + `"`, gzTag: `"` + tag + `-gz"`, cache: cacheRevalidate}
			a.ctype = mime.TypeByExtension(path.Ext(p))
			switch path.Ext(p) {
			case ".js", ".mjs":
				a.ctype = "text/javascript; charset=utf-8"
			case ".LICENSE", "":
				a.ctype = "text/plain; charset=utf-8"
			}
			if a.ctype == "" {
				a.ctype = "application/octet-stream"
			}
			if strings.HasPrefix(p, "pages/assets/vendor/") {
				a.cache = cacheImmutable
			}
			if compressible(a.ctype) {
				var buf bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
				_, _ = zw.Write(body)
				_ = zw.Close()
				if buf.Len() < len(body) {
					a.gz = buf.Bytes()
				}
			}
			pageAssets[strings.TrimPrefix(p, "pages/")] = a
			return nil
		})
		if err != nil {
			// The files are compiled in: failing to read them is a broken build.
			panic("read embedded pages: " + err.Error())
		}
	})
	return pageAssets
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

// pageRoutes serves the buyer's page at /, the operator's at /admin, and
// their files under /assets/.
func (s *Server) pageRoutes(app *fiber.App) {
	app.Get("/", s.page("index.html"))
	app.Get("/admin", s.page("admin.html"))
	app.Get("/assets/*", s.pageAsset)
}

func (s *Server) page(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		a := loadPageAssets()[name]
		c.Set("Content-Security-Policy", pagePolicy)
		c.Set("Referrer-Policy", "no-referrer")
		return sendPageAsset(c, a)
	}
}

func (s *Server) pageAsset(c *fiber.Ctx) error {
	// The map holds only embedded names, so a path like ../x finds nothing
	// and reaches no file system.
	a := loadPageAssets()["assets/"+c.Params("*")]
	if a == nil {
		return fiber.ErrNotFound
	}
	return sendPageAsset(c, a)
}

func sendPageAsset(c *fiber.Ctx, a *pageAsset) error {
	body, tag := a.body, a.etag
	if a.gz != nil {
		c.Vary(fiber.HeaderAcceptEncoding)
		if c.Context().Request.Header.HasAcceptEncoding("gzip") {
			body, tag = a.gz, a.gzTag
			c.Set(fiber.HeaderContentEncoding, "gzip")
		}
	}
	c.Set(fiber.HeaderCacheControl, a.cache)
	c.Set(fiber.HeaderETag, tag)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentType, a.ctype)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), tag) {
		c.Context().Response.Header.Del(fiber.HeaderContentEncoding)
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.Send(body)
}

// etagMatches reports whether an If-None-Match list names tag (weak
// comparison, as RFC 9110 asks for GET).
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}
