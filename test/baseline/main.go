// Command baseline is the yardstick of the design's throughput targets (docs/benchmarks.md): a bare
// Fiber server whose line endpoints make one rueidis Lua call (INCR, ZADD NX,
// ZRANK) and answer JSON, plus a bare "hello". fastdeal's join and status are
// measured against it with the same client, on the same cores, in the same
// session (see docs/benchmarks.md and bench.sh beside this file).
//
// With -tickets it is instead the helper of bench.sh's ticketed status row:
// it joins buyers to a fastdeal line and writes "user ticket" lines. With
// -ratios it reads bench_test.go's output and prints the ratios. With
// -capacity it prints docs/capacity.md's model from capacity.sh's output.
package main

import (
	"context"
	"flag"
	"log"
	"os"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/rueidis"
)

// One round trip: take a sequence number, queue the user if new, read the rank.
var joinScript = rueidis.NewLuaScript(`
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], 'NX', seq, ARGV[1])
return redis.call('ZRANK', KEYS[2], ARGV[1])`)

var rankScript = rueidis.NewLuaScriptReadOnly(`return redis.call('ZRANK', KEYS[1], ARGV[1])`)

func main() {
	addr := flag.String("addr", "127.0.0.1:18200", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	tickets := flag.String("tickets", "", "instead of serving, join buyers to the line at this fastdeal URL "+
		"(e.g. http://127.0.0.1:18100/v1/drops/ID/line) and write their tickets to -out")
	users := flag.Int("users", 20000, "with -tickets: how many buyers join")
	prefix := flag.String("prefix", "k", "with -tickets: buyer ids are PREFIX1..PREFIXn")
	out := flag.String("out", "", "with -tickets: the file of \"user ticket\" lines")
	ratios := flag.String("ratios", "", "instead of serving, print the per-run ratios and medians of this file of bench_test.go results")
	capacity := flag.String("capacity", "", "instead of serving, print docs/capacity.md's model from this output directory of capacity.sh")
	headroom := flag.Float64("headroom", 0.6, "with -capacity: share of its cores a process may use")
	cores := flag.Float64("instance-cores", 4, "with -capacity: cores per app instance")
	flag.Parse()
	if *capacity != "" {
		if err := printModel(*capacity, modelOpts{headroom: *headroom, instanceCores: *cores, batchMax: 256}, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *ratios != "" {
		if err := printRatios(*ratios, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *tickets != "" {
		if err := writeTickets(context.Background(), *tickets, *prefix, *users, *out); err != nil {
			log.Fatal(err)
		}
		return
	}
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*redisAddr}, DisableCache: true})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(newBare(rc).Listen(*addr))
}

// newBare is the yardstick server; bench_test.go serves the same one.
func newBare(rc rueidis.Client) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/hello", func(c *fiber.Ctx) error { return c.SendString("hello") })
	app.Post("/v1/drops/:id/line", func(c *fiber.Ctx) error {
		id, user := c.Params("id"), c.Get("X-User-ID")
		rank, err := joinScript.Exec(c.UserContext(), rc,
			[]string{"{bl:" + id + "}:seq", "{bl:" + id + "}:q"}, []string{user}).AsInt64()
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "waiting", "position": rank + 1, "ahead": rank})
	})
	app.Get("/v1/drops/:id/line/me", func(c *fiber.Ctx) error {
		id, user := c.Params("id"), c.Get("X-User-ID")
		rank, err := rankScript.Exec(c.UserContext(), rc, []string{"{bl:" + id + "}:q"}, []string{user}).AsInt64()
		if rueidis.IsRedisNil(err) {
			return c.Status(fiber.StatusNotFound).SendString(`{"code":"not_in_line"}`)
		}
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"status": "waiting", "position": rank + 1, "ahead": rank, "eta_seconds": float64(rank+1) / 100})
	})
	return app
}

// writeTickets joins n buyers to the line at url and writes their tickets to
// path, one "user ticket" line each.
func writeTickets(ctx context.Context, url, prefix string, n int, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	lines, err := joinAll(ctx, url, prefix, n)
	if err != nil {
		f.Close()
		return err
	}
	for _, l := range lines {
		if _, err := f.WriteString(l.user + " " + l.ticket + "\n"); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
