package load

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario names accepted by Config.Scenario and the command's argument.
const (
	ConcertSpike = "concert-spike"
	CouponRush   = "coupon-rush"
	LineFlood    = "line-flood"
)

// Scenarios lists every scenario Run knows, in the order the help text shows them.
var Scenarios = []string{ConcertSpike, CouponRush, LineFlood}

// Stage is one step of an arrival schedule: Rate arrivals per second for Duration.
type Stage struct {
	Duration time.Duration
	Rate     float64
}

// String renders the stage in the form ParseStages reads ("60s:100").
func (s Stage) String() string {
	return s.Duration.String() + ":" + strconv.FormatFloat(s.Rate, 'f', -1, 64)
}

// ParseStages reads a comma-separated list of DURATION:RATE pairs, such as
// "60s:100,60s:200". Every duration and rate must be positive.
func ParseStages(s string) ([]Stage, error) {
	var stages []Stage
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		durText, rateText, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("stage %q: want DURATION:RATE, e.g. 60s:100", part)
		}
		d, err := time.ParseDuration(strings.TrimSpace(durText))
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", part, err)
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(rateText), 64)
		if err != nil {
			return nil, fmt.Errorf("stage %q: rate: %w", part, err)
		}
		if d <= 0 || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return nil, fmt.Errorf("stage %q: duration and rate must be positive", part)
		}
		stages = append(stages, Stage{Duration: d, Rate: r})
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no stages in %q", s)
	}
	return stages, nil
}

// FormatStages is the inverse of ParseStages.
func FormatStages(stages []Stage) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// DefaultConcertStages is the concert-spike schedule of docs/scenarios.md: 100/s for a
// minute, then 200, 300, 400 and 500/s a minute each (90,000 claims).
var DefaultConcertStages = []Stage{
	{time.Minute, 100}, {time.Minute, 200}, {time.Minute, 300}, {time.Minute, 400}, {time.Minute, 500},
}

// Config describes one run. Sizes, rates and times are given at real speed; Run
// applies Speed itself. Zero values take the scenario's defaults (see Defaults).
type Config struct {
	// Scenario is one of ConcertSpike, CouponRush, LineFlood.
	Scenario string
	// BaseURL is the server's root, such as http://127.0.0.1:8080.
	BaseURL string
	// AdminToken authorises the setup and audit calls.
	AdminToken string
	// JWTSecret, when set, makes Run mint HS256 buyer tokens; otherwise buyers
	// identify with X-User-ID.
	JWTSecret string
	// MySQLDSN, when set, makes the audit also read table issuances from MySQL.
	MySQLDSN string
	// RedisAddr, when set, lets line-flood and coupon-rush report Redis memory
	// per waiting user (INFO memory used_memory).
	RedisAddr string
	// MetricsURL, when set, is the server's /metrics on its private admin
	// listener (a full URL): coupon-rush reads process_resident_memory_bytes
	// from it while it runs, line-flood before and after its joins.
	MetricsURL string
	// Strategy labels the report (the inventory strategy under test).
	Strategy string
	// InProcess says the server runs in this process (--embedded), so its memory
	// can be read from /proc/self when /metrics does not report it.
	InProcess bool

	// Speed compresses the schedule: rates times Speed, durations divided by Speed.
	Speed float64
	// Seed drives Poisson arrivals; the same seed gives the same schedule.
	Seed int64
	// Poisson spaces arrivals with exponential gaps instead of evenly.
	Poisson bool
	// Timeout bounds each request.
	Timeout time.Duration
	// Duration is line-flood's join phase; for the other scenarios a hard limit on
	// the whole run (zero: twice the planned schedule plus 30s).
	Duration time.Duration
	// MaxInFlight bounds concurrent requests; an arrival beyond it waits for a slot
	// and shows up as a late start.
	MaxInFlight int

	// Drops is how many drops the scenario runs at once (zero or one: one, as
	// always). Each drop is its own sale with Stock and Users of its own, so
	// one drop of N is today's single-drop run; their buyers share one
	// connection pool and MaxInFlight, their schedules run side by side (N
	// times the offered rate), and each drop is audited on its own.
	// concert-spike and coupon-rush only.
	Drops int
	// RunID names a multi-drop run: drop k gets the id RunID-dNN (k from 1).
	// Empty: the scenario and the start time, made unique. A single-drop run
	// ignores it and lets the server name its drop.
	RunID string

	// Stock is the number of seats (concert-spike) or units (coupon-rush,
	// line-flood), per drop.
	Stock int
	// Users is the number of distinct buyers per drop (line-flood: the most it
	// will join).
	Users int
	// PerUserLimit is the drop's per_user_limit.
	PerUserLimit int
	// Stages is concert-spike's arrival schedule.
	Stages []Stage
	// Ramp is the window over which coupon-rush users arrive.
	Ramp time.Duration
	// Wait is the pause between a coupon-rush join and its first status poll.
	Wait time.Duration
	// Poll is the interval between coupon-rush status polls when the server does
	// not pace them (an answer without poll_after_ms), or always with FixedPoll.
	Poll time.Duration
	// FixedPoll replays the seeds' polling: Wait after the join, then every Poll,
	// ignoring poll_after_ms and sending no line ticket. By default coupon-rush
	// users poll when the server says and present their latest ticket.
	FixedPoll bool
	// Prequeue is the fraction (0 to 1) of coupon-rush users who join a
	// pre-queue during PrequeueWindow before the drop opens; the rest arrive
	// over Ramp after opening. Zero: no pre-queue, the drop is open from the start.
	Prequeue float64
	// PrequeueWindow is how long before opening the pre-queue opens (default 10
	// minutes, scaled by Speed like every duration).
	PrequeueWindow time.Duration
	// AdmitRate is the queued drop's admit_rate per second.
	AdmitRate float64
	// MaxPolls bounds the status polls of one coupon-rush user.
	MaxPolls int
	// Concurrency is line-flood's number of joining workers.
	Concurrency int
	// Sample is how many line-flood users read their position afterwards.
	Sample int

	// Progress, when set, receives a progress bar while the run goes on.
	Progress io.Writer
	// OnResult, when set, is called once for every measured buyer request (claims,
	// joins, line-status polls; not the admin setup and audit calls) right after it
	// ended, with the same times and outcome the report counts. It is called from
	// many goroutines at once, so it must be safe for concurrent use, and it runs on
	// the request's goroutine, so it should be quick. Chaos tests use it to place
	// each error on the wall clock.
	OnResult func(Result)
}

// Result is one measured buyer request, as Config.OnResult sees it.
type Result struct {
	// Endpoint is EndpointClaim, EndpointJoin or EndpointLineStatus.
	Endpoint string
	// Intended is when the schedule meant the request to start (latency is
	// measured from it); Started when it was sent; Ended when the answer or the
	// error came back.
	Intended, Started, Ended time.Time
	// Status is the HTTP status; 0 when Err is set.
	Status int
	// Err is the transport error when no HTTP answer came, and ErrKind its class
	// as the report counts it ("timeout", "refused", "reset", "other"); both are
	// empty when an answer came.
	Err     error
	ErrKind string
}

// Defaults returns the scenario's configuration as docs/scenarios.md describes it,
// at real speed, aimed at the default local server.
func Defaults(scenario string) Config {
	c := Config{
		Scenario:     scenario,
		BaseURL:      "http://127.0.0.1:8080",
		Speed:        1,
		Seed:         1,
		Timeout:      10 * time.Second,
		MaxInFlight:  4096,
		PerUserLimit: 1,
		Wait:         time.Second,
		Poll:         2 * time.Second,
		AdmitRate:    100,
		MaxPolls:     1000,
		Concurrency:  64,
		Sample:       10000,

		PrequeueWindow: 10 * time.Minute,
	}
	switch scenario {
	case ConcertSpike:
		c.Stock = 10000
		c.Stages = append([]Stage(nil), DefaultConcertStages...)
		c.Users = totalArrivals(c.Stages)
	case CouponRush:
		c.Stock = 1000
		c.Users = 20000
		c.Ramp = 10 * time.Second
	case LineFlood:
		c.Stock = 10000000
		c.Users = 200000
		c.Duration = 10 * time.Second
	}
	return c
}

// withDefaults fills zero fields from Defaults and checks the result.
func (c Config) withDefaults() (Config, error) {
	if !isScenario(c.Scenario) {
		return c, fmt.Errorf("unknown scenario %q (want one of %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	d := Defaults(c.Scenario)
	fill := func(dst *int, v int) {
		if *dst == 0 {
			*dst = v
		}
	}
	fillD := func(dst *time.Duration, v time.Duration) {
		if *dst == 0 {
			*dst = v
		}
	}
	fillF := func(dst *float64, v float64) {
		if *dst == 0 {
			*dst = v
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = d.BaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	fillF(&c.Speed, d.Speed)
	fillD(&c.Timeout, d.Timeout)
	fillD(&c.Duration, d.Duration)
	fill(&c.MaxInFlight, d.MaxInFlight)
	fill(&c.Stock, d.Stock)
	fill(&c.PerUserLimit, d.PerUserLimit)
	fillD(&c.Ramp, d.Ramp)
	fillD(&c.Wait, d.Wait)
	fillD(&c.Poll, d.Poll)
	fillD(&c.PrequeueWindow, d.PrequeueWindow)
	fillF(&c.AdmitRate, d.AdmitRate)
	fill(&c.MaxPolls, d.MaxPolls)
	fill(&c.Concurrency, d.Concurrency)
	fill(&c.Sample, d.Sample)
	fill(&c.Drops, 1)
	if len(c.Stages) == 0 {
		c.Stages = d.Stages
	}
	if c.Users == 0 {
		c.Users = d.Users
		if c.Scenario == ConcertSpike {
			c.Users = totalArrivals(c.Stages)
		}
	}
	switch {
	case c.Speed <= 0 || math.IsInf(c.Speed, 0) || math.IsNaN(c.Speed):
		return c, fmt.Errorf("speed must be positive, got %v", c.Speed)
	case c.Stock < 1:
		return c, fmt.Errorf("stock must be at least 1, got %d", c.Stock)
	case c.Users < 1:
		return c, fmt.Errorf("users must be at least 1, got %d", c.Users)
	case c.Scenario == ConcertSpike && c.Stock > 100000:
		return c, fmt.Errorf("a seated drop has at most 100,000 seats, got %d", c.Stock)
	case c.Timeout < 0 || c.Duration < 0 || c.Ramp < 0 || c.Wait < 0 || c.Poll <= 0:
		return c, fmt.Errorf("durations must not be negative and poll must be positive")
	case c.MaxInFlight < 1 || c.Concurrency < 1 || c.MaxPolls < 1:
		return c, fmt.Errorf("max in-flight, concurrency and max polls must be at least 1")
	case c.Prequeue < 0 || c.Prequeue > 1 || math.IsNaN(c.Prequeue):
		return c, fmt.Errorf("pre-queue fraction must be between 0 and 1, got %v", c.Prequeue)
	case c.Prequeue > 0 && c.Scenario != CouponRush:
		return c, fmt.Errorf("a pre-queue is a coupon-rush setting")
	case c.PrequeueWindow < 0:
		return c, fmt.Errorf("the pre-queue window must not be negative")
	case c.Drops < 1 || c.Drops > MaxDrops:
		return c, fmt.Errorf("drops must be between 1 and %d, got %d", MaxDrops, c.Drops)
	case c.Drops > 1 && c.Scenario == LineFlood:
		return c, fmt.Errorf("line-flood measures one line's capacity: --drops applies to concert-spike and coupon-rush")
	case int64(c.Drops)*int64(c.Users) > math.MaxInt32:
		return c, fmt.Errorf("%d drops of %d users is more buyers than one run can track (%d)", c.Drops, c.Users, math.MaxInt32)
	case c.RunID != "" && !validRunID(c.RunID):
		return c, fmt.Errorf("run id %q: want 1 to %d of [A-Za-z0-9_-]", c.RunID, maxRunIDLen)
	}
	return c, nil
}

// MaxDrops is the most drops one run creates.
const MaxDrops = 1000

// maxRunIDLen leaves room in a drop id (at most 64 characters) for "-d1000".
const maxRunIDLen = 64 - len("-d1000")

func validRunID(s string) bool {
	if s == "" || len(s) > maxRunIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isScenario(s string) bool { return slices.Contains(Scenarios, s) }

// scaled holds the schedule after Speed was applied.
type scaled struct {
	stages    []Stage
	ramp      time.Duration
	wait      time.Duration
	poll      time.Duration
	duration  time.Duration
	prequeue  time.Duration
	admitRate int
}

func (c Config) scaled() scaled {
	s := scaled{
		ramp:     scaleDur(c.Ramp, c.Speed),
		wait:     scaleDur(c.Wait, c.Speed),
		poll:     scaleDur(c.Poll, c.Speed),
		duration: scaleDur(c.Duration, c.Speed),
	}
	if c.Prequeue > 0 {
		s.prequeue = scaleDur(c.PrequeueWindow, c.Speed)
	}
	for _, st := range c.Stages {
		s.stages = append(s.stages, Stage{Duration: scaleDur(st.Duration, c.Speed), Rate: st.Rate * c.Speed})
	}
	// The API accepts admit rates from 1 to 1,000,000 per second.
	s.admitRate = int(math.Round(math.Min(math.Max(c.AdmitRate*c.Speed, 1), 1e6)))
	return s
}

func scaleDur(d time.Duration, speed float64) time.Duration {
	return time.Duration(float64(d) / speed)
}

// totalArrivals is the number of arrivals a schedule plans, each stage rounded.
func totalArrivals(stages []Stage) int {
	n := 0
	for _, s := range stages {
		n += int(math.Round(s.Duration.Seconds() * s.Rate))
	}
	return n
}

// ParseFraction reads a share of users as a percentage ("30%") or a fraction
// ("0.3"); it must lie between 0 and 1.
func ParseFraction(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a fraction such as 0.3 or a percentage such as 30%%", s)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 || math.IsNaN(v) {
		return 0, fmt.Errorf("%q: must be between 0 and 1 (0%% and 100%%)", s)
	}
	return v, nil
}
