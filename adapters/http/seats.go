package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"sync"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
)

// Bounds of the rendered seat pages kept per server. A full page is about
// 33 KB of JSON and 3 KB gzipped; the pages buyers repeat (the first ones,
// available or not) stay, and a client walking odd `after` values only
// churns the map, costing it no more than an uncached answer.
const (
	seatPagesMax = 256
	// seatGzipMin is the smallest body worth compressing.
	seatGzipMin = 512
)

// seatPages keeps each page of the seats route as rendered, plain and
// gzipped, for as long as the snapshot it was cut from answers: repeating
// a page then costs a map look-up instead of rendering and compressing it.
type seatPages struct {
	mu    sync.Mutex
	pages map[seatPageKey]*seatPageBytes
	gz    sync.Pool // *gzip.Writer
}

type seatPageKey struct {
	drop, after string
	limit       int
	available   bool
}

type seatPageBytes struct {
	version uint64
	plain   []byte
	// gz is nil until a client that accepts gzip asks; filled under once.
	once sync.Once
	gz   []byte
}

func newSeatPages() *seatPages {
	return &seatPages{pages: make(map[seatPageKey]*seatPageBytes)}
}

// body returns the page's bytes, gzipped when gzipOK and worth it; zipped
// says which. p must be the page of q in dropID.
func (sp *seatPages) body(dropID string, q application.SeatQuery, p application.SeatPage, gzipOK bool) (b []byte, zipped bool) {
	key := seatPageKey{drop: dropID, after: q.After, limit: q.Limit, available: q.Available}
	sp.mu.Lock()
	e := sp.pages[key]
	if e == nil || e.version != p.Version {
		if len(sp.pages) >= seatPagesMax {
			clear(sp.pages)
		}
		e = &seatPageBytes{version: p.Version, plain: appendSeatPage(make([]byte, 0, 32+len(p.Seats)*32), p)}
		sp.pages[key] = e
	}
	sp.mu.Unlock()
	if !gzipOK || len(e.plain) < seatGzipMin {
		return e.plain, false
	}
	e.once.Do(func() { e.gz = sp.compress(e.plain) })
	return e.gz, true
}

func (sp *seatPages) compress(plain []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(plain) / 8)
	zw, _ := sp.gz.Get().(*gzip.Writer)
	if zw == nil {
		// Best speed: seat pages are repetitive enough that it still
		// shrinks them tenfold, at a fraction of the default level's CPU.
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the level is valid
	} else {
		zw.Reset(&buf)
	}
	_, _ = zw.Write(plain) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	sp.gz.Put(zw)
	return buf.Bytes()
}

// appendSeatPage renders a page of the seats route by hand: a full page is a
// thousand seats, and reflection-based encoding would cost several times the
// page cut itself. Labels are 1 to 32 of [A-Za-z0-9_-] (the drop refuses any
// other), which JSON needs no escape for; one that is not goes through
// encoding/json all the same.
func appendSeatPage(b []byte, p application.SeatPage) []byte {
	b = append(b, `{"seats":[`...)
	for i, v := range p.Seats {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"label":`...)
		b = appendLabel(b, v.Label)
		if v.Taken {
			b = append(b, `,"taken":true}`...)
		} else {
			b = append(b, `,"taken":false}`...)
		}
	}
	b = append(b, ']')
	if p.Next != "" {
		b = append(b, `,"next":`...)
		b = appendLabel(b, p.Next)
	}
	return append(b, '}')
}

func appendLabel(b []byte, label string) []byte {
	if drop.ValidSeatLabel(label) {
		b = append(b, '"')
		b = append(b, label...)
		return append(b, '"')
	}
	q, _ := json.Marshal(label) // a string always marshals
	return append(b, q...)
}
