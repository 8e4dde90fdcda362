package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/application"
)

// Pacing of the live stream.
const (
	// liveInterval is the time between two events: the operator page
	// promises a refresh every second.
	liveInterval = time.Second
	// liveReadTimeout bounds one stats reading, so a hung store sends an
	// error event a tick later instead of silencing the stream.
	liveReadTimeout = 2 * time.Second
)

// LiveRateJSON is a rate in events per second over the last second and the
// last minute.
type LiveRateJSON struct {
	LastSecond float64 `json:"last_second"`
	LastMinute float64 `json:"last_minute"`
}

// LiveRatesJSON are the rates of a live event. Joins and polls are the ones
// the serving instance answered; admissions and issues are global.
type LiveRatesJSON struct {
	Joins      LiveRateJSON `json:"joins"`
	Admissions LiveRateJSON `json:"admissions"`
	Issues     LiveRateJSON `json:"issues"`
	Polls      LiveRateJSON `json:"polls"`
}

// LiveJSON is the data of one `stats` event of GET /v1/admin/drops/{id}/live:
// the stats, when they were read, the rates, and the wait of the last buyer
// in line (null while paused).
type LiveJSON struct {
	StatsJSON
	At         time.Time     `json:"at"`
	Rates      LiveRatesJSON `json:"rates"`
	ETASeconds *float64      `json:"eta_seconds"`
}

func liveJSON(v application.LiveStats) LiveJSON {
	rate := func(r application.Rate) LiveRateJSON {
		return LiveRateJSON{LastSecond: round3(r.LastSecond), LastMinute: round3(r.LastMinute)}
	}
	out := LiveJSON{
		StatsJSON: statsJSON(v.Stats),
		At:        v.At.UTC(),
		Rates: LiveRatesJSON{
			Joins: rate(v.Rates.Joins), Admissions: rate(v.Rates.Admissions),
			Issues: rate(v.Rates.Issues), Polls: rate(v.Rates.Polls),
		},
	}
	if v.ETASeconds != nil {
		eta := round3(*v.ETASeconds)
		out.ETASeconds = &eta
	}
	return out
}

func round3(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1000) / 1000
}

// live streams a drop's stats and rates as server-sent events, one a second,
// until the client leaves or the server shuts down. The first reading is
// taken before the stream starts, so an unknown drop or a store that is down
// gets an ordinary problem answer; later failures become `error` events and
// the stream goes on.
func (s *Server) live(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	feed := application.NewLiveFeed(s.catalog, s.sales.Live(), nil, id)
	first, err := feed.Next(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	// nginx buffers proxied answers by default, which would hold events back.
	c.Set("X-Accel-Buffering", "no")

	fctx := c.Context()
	// Done is closed when Shutdown starts. Without watching it a stream never
	// ends and Shutdown waits for it until its deadline.
	done := fctx.Done()
	log := s.log
	fctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		ticker := time.NewTicker(liveInterval)
		defer ticker.Stop()
		v, err := first, error(nil)
		for {
			if err == nil {
				writeEvent(w, "stats", liveJSON(v))
			} else {
				p, _, unexpected := toProblem(err)
				if unexpected {
					log.Error("live stats", zap.String("drop", id), zap.Error(err))
				}
				writeEvent(w, "error", p)
			}
			// Serve's connection timeouts time each write on its own, so a
			// long stream lives on while a client that stopped reading is
			// dropped.
			if w.Flush() != nil {
				return // the client left
			}
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), liveReadTimeout)
			v, err = feed.Next(ctx)
			cancel()
		}
	})
	return nil
}

// writeEvent writes one server-sent event. The JSON is one line, as the
// event-stream format requires of a data field.
func writeEvent(w *bufio.Writer, name string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte(`{}`)
	}
	_, _ = w.WriteString("event: ")
	_, _ = w.WriteString(name)
	_, _ = w.WriteString("\ndata: ")
	_, _ = w.Write(b)
	_, _ = w.WriteString("\n\n")
}
