// Command baseline is the yardstick of DESIGN.md's throughput targets: a bare
// Fiber server whose line endpoints make one rueidis Lua call (INCR, ZADD NX,
// ZRANK) and answer JSON, plus a bare "hello". fastdeal's join and status are
// measured against it with the same client, on the same cores, in the same
// session (see docs/benchmarks.md and bench.sh beside this file).
package main

import (
	"flag"
	"log"

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
	flag.Parse()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*redisAddr}, DisableCache: true})
	if err != nil {
		log.Fatal(err)
	}
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
	log.Fatal(app.Listen(*addr))
}
