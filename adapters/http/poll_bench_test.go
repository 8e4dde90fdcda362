package httpapi_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/domain/drop"
)

// BenchmarkTicketedPollHandler is the server's own work for one ticketed
// status poll, from the parsed request to the answer's bytes, without the
// network: what fastdeal's middleware, limiter, ticket check and snapshot
// add to Fiber. "bare-hello" is a Fiber app answering the same request with
// "hello", the yardstick test/baseline/bench.sh compares the poll with over
// the network, where the kernel's read and write are most of either's cost.
func BenchmarkTicketedPollHandler(b *testing.B) {
	sales, cat := memoryUseCases()
	ctx := context.Background()
	if _, err := cat.Create(ctx, drop.Params{ID: "poll", Name: "bench", Kind: drop.KindGeneral, Stock: 1000,
		Admission: drop.AdmissionQueued, Paused: true}); err != nil {
		b.Fatal(err)
	}
	// As many buyers as bench.sh polls: their limiter buckets and tickets
	// do not all fit in the caches, as on a real server.
	const buyers = 20000
	users, tickets := make([]string, buyers), make([]string, buyers)
	for i := range users {
		users[i] = "buyer-" + strconv.Itoa(i)
		v, _, err := sales.JoinLine(ctx, "poll", users[i])
		if err != nil {
			b.Fatal(err)
		}
		tickets[i] = v.Ticket
	}
	reg := prometheus.NewRegistry()
	// The limiter does its whole work on every poll, but with this burst it
	// never refuses one: the loop polls each buyer far more often than a
	// real client may.
	fd := httpapi.New(httpapi.Config{AdminToken: "t", RatePerUser: 20, RateBurst: 1 << 30}, sales, cat, nil, reg, nil, nil).App().Handler()
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Get("/hello", func(c *fiber.Ctx) error { return c.SendString("hello") })

	for _, c := range []struct {
		name, uri string
		h         fasthttp.RequestHandler
	}{
		{"bare-hello", "/hello", bare.Handler()},
		{"fastdeal", "/v1/drops/poll/line/me", fd},
	} {
		b.Run(c.name, func(b *testing.B) {
			reqs := make([]fasthttp.RequestCtx, buyers)
			for i := range reqs {
				reqs[i].Request.Header.SetMethod(fiber.MethodGet)
				reqs[i].Request.SetRequestURI(c.uri)
				reqs[i].Request.Header.Set(httpapi.HeaderUserID, users[i])
				reqs[i].Request.Header.Set(httpapi.HeaderLineTicket, tickets[i])
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			i := 0
			for b.Loop() {
				r := &reqs[i%buyers]
				i++
				r.Response.Reset()
				// As a server does for each request: the request's time,
				// which the rate limiter and the request's duration use.
				r.Init2(nil, nil, false)
				c.h(r)
				if r.Response.StatusCode() != fiber.StatusOK {
					b.Fatalf("%d %s", r.Response.StatusCode(), r.Response.Body())
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(i), "cpu-ns/op")
		})
	}
}
