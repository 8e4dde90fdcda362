package httpapi_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
)

// BenchmarkSeatsRoute is the server's cost of one GET of the seats route of
// a 100,000-seat drop, from the request to the bytes on the wire, within the
// second a snapshot answers. Before paging, the route answered every seat:
// 5.9 MB and 50-75 ms of CPU per request.
//
//   - first-page: the page buyers repeat, rendered once and kept;
//   - first-page-gzip: the same for a client that accepts gzip;
//   - new-page-gzip: a page nobody asked for yet (a new after each time),
//     so it is cut, rendered and compressed: what a client walking the
//     drop costs.
func BenchmarkSeatsRoute(b *testing.B) {
	sales, cat := memoryUseCases()
	// Long labels make the page as large as the route can answer.
	labels := make([]string, drop.MaxSeats)
	for i := range labels {
		labels[i] = fmt.Sprintf("BLOCK-%03d-ROW-%03d-SEAT-%05d", i/1000, i/100%10, i)
	}
	if _, err := cat.Create(context.Background(), drop.Params{ID: "bench-seats", Name: "bench", Kind: drop.KindSeated, Seats: labels}); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := httpapi.New(httpapi.Config{AdminToken: "t"}, sales, cat, nil, reg, reg, nil).App().Handler()

	serve := func(b *testing.B, uri string, gzip bool) int {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(uri)
		if gzip {
			ctx.Request.Header.Set("Accept-Encoding", "gzip")
		}
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("%s: %d %s", uri, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		return len(ctx.Response.Body())
	}
	const page = "/v1/drops/bench-seats/seats?limit=1000"
	for _, c := range []struct {
		name string
		gzip bool
		uri  func(i int) string
	}{
		{"first-page", false, func(int) string { return page }},
		{"first-page-gzip", true, func(int) string { return page }},
		{"new-page-gzip", true, func(i int) string { return page + "&after=" + labels[i%(len(labels)-1000)] }},
	} {
		b.Run(c.name, func(b *testing.B) {
			size := serve(b, c.uri(0), c.gzip)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			i := 0
			for b.Loop() {
				i++
				serve(b, c.uri(i*7919), c.gzip)
			}
			// CPU time, unlike ns/op, does not grow when other processes
			// share the machine: it is what one request costs the server.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(i), "cpu-ns/op")
			b.ReportMetric(float64(size), "B/answer")
		})
	}
}

// memoryUseCases wires the use cases over memory adapters, with a drop
// cache that never expires within a benchmark.
func memoryUseCases() (*application.Sales, *application.Catalog) {
	st := application.Stores{Drops: memory.NewDrops(), Inventory: memory.NewInventory(), Line: memory.NewLine(),
		Ledger: memory.NewLedger(), Lease: memory.NewLease(nil)}
	cache := application.NewDropCache(st.Drops, time.Hour)
	recon := application.NewReconciler(st, nil)
	return application.NewSales(st, cache, recon, application.SalesOptions{}, nil), application.NewCatalog(st, cache, recon)
}

// processCPU is the user and system CPU time this process has used, in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
