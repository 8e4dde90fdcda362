package load

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one run measured and what the audit concluded. Times in
// milliseconds or seconds are from the start of the schedule.
type Report struct {
	Scenario    string            `json:"scenario"`
	Target      string            `json:"target"`
	Strategy    string            `json:"strategy,omitempty"`
	Speed       float64           `json:"speed"`
	StartedAt   time.Time         `json:"started_at"`
	WallSeconds float64           `json:"wall_seconds"`
	Drop        DropInfo          `json:"drop"`
	Schedule    ScheduleReport    `json:"schedule"`
	Endpoints   []EndpointReport  `json:"endpoints"`
	Sale        SaleReport        `json:"sale"`
	LineFlood   *LineFloodReport  `json:"line_flood,omitempty"`
	CouponRush  *CouponRushReport `json:"coupon_rush,omitempty"`
	Audit       AuditReport       `json:"audit"`
	// RunID and Drops describe a multi-drop run (--drops N, N > 1): then Drop
	// describes the drops together (ID is the run id, Stock their sum), Sale
	// and Endpoints are the totals, Audit has one check per drop, and Drops
	// has each drop's own line with its full audit.
	RunID string       `json:"run_id,omitempty"`
	Drops []DropReport `json:"drops,omitempty"`
	// AllDrops is the per-drop table's total line: every drop's requests
	// together (ID is the run id, Audit the run's).
	AllDrops *DropReport `json:"all_drops,omitempty"`
	// Config echoes the effective settings, at real speed.
	Config ConfigEcho `json:"config"`
}

// DropReport is one drop's line in a multi-drop run.
type DropReport struct {
	Drop DropInfo `json:"drop"`
	// Requests counts the drop's buyer requests, S2xx and S409 its answers
	// with an outcome, Errors everything else (429, other 4xx, 5xx, no answer).
	Requests int64 `json:"requests"`
	S2xx     int64 `json:"2xx"`
	S409     int64 `json:"409"`
	Errors   int64 `json:"errors"`
	// Latency is over all the drop's requests, at two significant figures.
	Latency Latency `json:"latency"`
	// Issued is the server's count for the drop.
	Issued int         `json:"issued"`
	Audit  AuditReport `json:"audit"`
}

// FailedChecks names the drop's failed audit checks.
func (d DropReport) FailedChecks() []string {
	var out []string
	for _, c := range d.Audit.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// ConfigEcho is the part of Config a reader needs to reproduce a run.
type ConfigEcho struct {
	// Drops is how many drops ran at once (absent: one); Stock and Users are
	// per drop.
	Drops        int     `json:"drops,omitempty"`
	RunID        string  `json:"run_id,omitempty"`
	Stock        int     `json:"stock"`
	Users        int     `json:"users"`
	PerUserLimit int     `json:"per_user_limit"`
	Stages       string  `json:"stages,omitempty"`
	RampSeconds  float64 `json:"ramp_seconds,omitempty"`
	WaitSeconds  float64 `json:"wait_seconds,omitempty"`
	PollSeconds  float64 `json:"poll_seconds,omitempty"`
	AdmitRate    float64 `json:"admit_rate,omitempty"`
	FixedPoll    bool    `json:"fixed_poll,omitempty"`
	Prequeue     float64 `json:"prequeue,omitempty"`
	// PrequeueWindowSeconds is at real speed, like every duration here.
	PrequeueWindowSeconds float64 `json:"prequeue_window_s,omitempty"`
	Seed                  int64   `json:"seed"`
	Poisson               bool    `json:"poisson"`
	Identity              string  `json:"identity"`
}

// DropInfo is the drop the scenario created.
type DropInfo struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Admission    string `json:"admission"`
	Stock        int    `json:"stock"`
	PerUserLimit int    `json:"per_user_limit"`
	AdmitRate    int    `json:"admit_rate,omitempty"`
}

// ScheduleReport says how faithfully the open-model schedule was kept.
type ScheduleReport struct {
	// Planned is the number of scheduled arrivals (claims or users).
	Planned int `json:"planned"`
	// Started counts every request started, arrivals and follow-up polls.
	Started int64 `json:"started"`
	// LateStarts counts requests that started more than 1ms after their intended
	// time: the generator (or its CPU share) fell behind.
	LateStarts int64   `json:"late_starts"`
	MaxLateMs  float64 `json:"max_late_ms"`
	// Unstarted counts arrivals the deadline cut off.
	Unstarted   int     `json:"unstarted"`
	LastStartMs float64 `json:"last_start_ms"`
}

// EndpointReport is one route's counts, throughput, latency and timeline.
type EndpointReport struct {
	Name       string          `json:"name"`
	Count      int64           `json:"count"`
	Throughput float64         `json:"throughput_per_s"`
	Latency    Latency         `json:"latency"`
	Status     StatusCounts    `json:"status"`
	Codes      map[int]int64   `json:"codes"`
	Errors     ErrorCounts     `json:"errors"`
	LateStarts int64           `json:"late_starts"`
	Timeline   []TimelinePoint `json:"timeline"`
}

// Latency percentiles in milliseconds, measured from each request's intended start.
type Latency struct {
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// StatusCounts sorts answers by class. 409 is an expected outcome (sold out, seat
// taken, limit reached); 429 means the per-user rate was exceeded.
type StatusCounts struct {
	S2xx  int64 `json:"2xx"`
	S409  int64 `json:"409"`
	S429  int64 `json:"429"`
	S4xx  int64 `json:"4xx"`
	S5xx  int64 `json:"5xx"`
	Other int64 `json:"other"`
}

// ErrorCounts sorts requests that got no HTTP answer at all.
type ErrorCounts struct {
	Timeout int64 `json:"timeout"`
	Refused int64 `json:"refused"`
	Reset   int64 `json:"reset"`
	Other   int64 `json:"other"`
}

// Total is the number of transport errors of every kind.
func (e ErrorCounts) Total() int64 { return e.Timeout + e.Refused + e.Reset + e.Other }

// TimelinePoint is one slice of the run, ending AtSeconds after the start.
type TimelinePoint struct {
	AtSeconds float64 `json:"at_s"`
	Answered  int64   `json:"answered"`
	Errors    int64   `json:"errors"`
	PerSecond float64 `json:"per_s"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// SaleReport is the sale's result as the clients and the server saw it.
type SaleReport struct {
	// Issued is the server's count (admin stats).
	Issued int `json:"issued"`
	// ClientIssued counts distinct issuances the clients were told about.
	ClientIssued   int   `json:"client_issued"`
	SoldOutAnswers int64 `json:"sold_out_answers"`
	SeatTaken      int64 `json:"seat_taken_answers"`
	LimitReached   int64 `json:"limit_reached_answers"`
	// SellOutSeconds is when the last unit was seen issued, if all stock went.
	SellOutSeconds *float64 `json:"sell_out_s,omitempty"`
	// FirstSoldOutSeconds is when a buyer first heard "sold out".
	FirstSoldOutSeconds *float64 `json:"first_sold_out_s,omitempty"`
	// DecidedAfterLastArrivalSeconds is the time from the last arrival's intended
	// start to the moment every buyer had a decided answer.
	DecidedAfterLastArrivalSeconds *float64 `json:"decided_after_last_arrival_s,omitempty"`
	Undecided                      int      `json:"undecided"`
}

// LineFloodReport is line-flood's capacity result.
type LineFloodReport struct {
	Joined         int64   `json:"joined"`
	JoinsPerSecond float64 `json:"joins_per_s"`
	PositionReads  int64   `json:"position_reads"`
	PositionP50Ms  float64 `json:"position_p50_ms"`
	PositionP99Ms  float64 `json:"position_p99_ms"`
	// PositionReadsWithTicket: the reads presented the join's line ticket.
	PositionReadsWithTicket bool    `json:"position_reads_with_ticket"`
	ServerRSSBefore         int64   `json:"server_rss_before_bytes,omitempty"`
	ServerRSSAfter          int64   `json:"server_rss_after_bytes,omitempty"`
	RSSSource               string  `json:"rss_source,omitempty"`
	RSSPerUser              float64 `json:"rss_per_user_bytes,omitempty"`
	RedisBefore             int64   `json:"redis_used_before_bytes,omitempty"`
	RedisAfter              int64   `json:"redis_used_after_bytes,omitempty"`
	RedisPerUser            float64 `json:"redis_per_user_bytes,omitempty"`
	MemoryNotMeasure        string  `json:"memory_not_measured,omitempty"`
}

// CouponRushReport is what coupon-rush adds at national scale: the status load
// the waiting buyers made, how many waited at once and what they cost the
// server, and how long deciding everyone took. Seconds are from the start of
// the schedule, at the speed the run went.
type CouponRushReport struct {
	// PollMode says whether users polled when the server said or on a fixed grid.
	PollMode string `json:"poll_mode"`
	// PrequeueUsers is the number planned to join before opening, and
	// PrequeueJoined those whose join the server answered pre_queue.
	PrequeueUsers         int     `json:"prequeue_users"`
	PrequeueJoined        int     `json:"prequeue_joined"`
	PrequeueWindowSeconds float64 `json:"prequeue_window_s,omitempty"`
	StatusPolls           int64   `json:"status_polls"`
	// PollsWithTicket counts status polls that presented a line ticket.
	PollsWithTicket    int64   `json:"polls_with_ticket"`
	PollsPerUser       float64 `json:"polls_per_user"`
	PeakPollsPerSecond float64 `json:"peak_polls_per_s"`
	MeanPollsPerSecond float64 `json:"mean_polls_per_s"`
	// WaitingPeak is the most buyers waiting at once (line_length plus
	// pre_queue_length), over reads of the admin stats every SampleSeconds.
	WaitingPeak          int64   `json:"waiting_peak"`
	WaitingPeakAtSeconds float64 `json:"waiting_peak_at_s"`
	SampleSeconds        float64 `json:"sample_s"`
	// ServerRSSPeak is the highest resident memory read (--metrics-url).
	ServerRSSPeak int64  `json:"server_rss_peak_bytes,omitempty"`
	RSSSource     string `json:"rss_source,omitempty"`
	// RedisPerWaiting is Redis used_memory at the peak of waiting, less before
	// the run, divided by the buyers waiting then (--redis).
	RedisBefore     int64   `json:"redis_used_before_bytes,omitempty"`
	RedisAtPeak     int64   `json:"redis_used_at_peak_bytes,omitempty"`
	RedisPerWaiting float64 `json:"redis_per_waiting_bytes,omitempty"`
	// OpenToDecidedSeconds is from opening (the pre-queue's end, or the start)
	// until every user had heard issued or sold out; absent if some never did.
	OpenToDecidedSeconds *float64 `json:"open_to_decided_s,omitempty"`
	// PrequeueRankCorrelation is Spearman's rho between the pre-queue users'
	// arrival order and their issue order (near 0 for a shuffle).
	PrequeueRankCorrelation *float64     `json:"prequeue_rank_correlation,omitempty"`
	Notes                   []string     `json:"notes,omitempty"`
	Timeline                []GaugePoint `json:"timeline,omitempty"`
}

// GaugePoint is one sample of the server during coupon-rush.
type GaugePoint struct {
	AtSeconds      float64 `json:"at_s"`
	Waiting        int64   `json:"waiting"`
	PreQueue       int64   `json:"pre_queue"`
	PollsPerSecond float64 `json:"polls_per_s"`
	ServerRSS      int64   `json:"server_rss_bytes,omitempty"`
}

// AuditReport lists every check and whether it held.
type AuditReport struct {
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`
}

// Check is one audited property; Detail says what was found.
type Check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Failures returns "name: detail" for each failed check.
func (a AuditReport) Failures() []string {
	var out []string
	for _, c := range a.Checks {
		if !c.Passed {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return out
}

// AuditError is returned by Run when the run finished but the audit failed.
type AuditError struct {
	Scenario string
	Failures []string
}

// Error lists every failed check, so the exit message says exactly why.
func (e *AuditError) Error() string {
	return fmt.Sprintf("%s audit failed: %s", e.Scenario, strings.Join(e.Failures, "; "))
}

// Endpoint returns the named endpoint's section, or false.
func (r *Report) Endpoint(name string) (EndpointReport, bool) {
	for _, e := range r.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return EndpointReport{}, false
}

// WriteJSON writes the whole report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteText prints the terminal report: a table per endpoint, the sale and the audit.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s against %s", r.Scenario, r.Target)
	if r.Strategy != "" {
		fmt.Fprintf(&b, " (%s)", r.Strategy)
	}
	if len(r.Drops) > 0 {
		n := len(r.Drops)
		fmt.Fprintf(&b, ", speed %gx, %.1fs wall, %d drops %s..%s (%s, %s, stock %d each, %d in all)\n",
			r.Speed, r.WallSeconds, n, r.Drops[0].Drop.ID, r.Drops[n-1].Drop.ID, r.Drop.Kind, r.Drop.Admission,
			r.Drops[0].Drop.Stock, r.Drop.Stock)
	} else {
		fmt.Fprintf(&b, ", speed %gx, %.1fs wall, drop %s (%s, %s, stock %d)\n",
			r.Speed, r.WallSeconds, r.Drop.ID, r.Drop.Kind, r.Drop.Admission, r.Drop.Stock)
	}
	fmt.Fprintf(&b, "schedule: %d arrivals planned, %d requests started, %d late starts (>1ms, max %.1fms), %d unstarted\n\n",
		r.Schedule.Planned, r.Schedule.Started, r.Schedule.LateStarts, r.Schedule.MaxLateMs, r.Schedule.Unstarted)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\tcount\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t2xx\t409\t429\t4xx\t5xx\ttimeout\trefused\treset\tother\tlate\t")
	for _, e := range r.Endpoints {
		l := e.Latency
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			e.Name, e.Count, e.Throughput, l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs,
			e.Status.S2xx, e.Status.S409, e.Status.S429, e.Status.S4xx, e.Status.S5xx+e.Status.Other,
			e.Errors.Timeout, e.Errors.Refused, e.Errors.Reset, e.Errors.Other, e.LateStarts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range r.Endpoints {
		if e.Status.S429 > 0 {
			fmt.Fprintf(&b, "note: %s got %d answers 429: the per-user rate is too high for the server's limit (lower --speed or raise FASTDEAL_RATE_PER_USER)\n", e.Name, e.Status.S429)
		}
	}

	if len(r.Drops) > 0 {
		if err := writeDrops(&b, r.Drops, r.AllDrops); err != nil {
			return err
		}
	}

	s := r.Sale
	fmt.Fprintf(&b, "\nsale: %d issued (server), %d seen issued by clients, %d sold-out answers, %d seat-taken, %d limit-reached",
		s.Issued, s.ClientIssued, s.SoldOutAnswers, s.SeatTaken, s.LimitReached)
	if s.SellOutSeconds != nil {
		fmt.Fprintf(&b, ", sold out at %.2fs", *s.SellOutSeconds)
	}
	if s.FirstSoldOutSeconds != nil {
		fmt.Fprintf(&b, ", first sold-out answer at %.2fs", *s.FirstSoldOutSeconds)
	}
	if s.DecidedAfterLastArrivalSeconds != nil {
		fmt.Fprintf(&b, ", every buyer decided %.2fs after the last arrival", *s.DecidedAfterLastArrivalSeconds)
	}
	if s.Undecided > 0 {
		fmt.Fprintf(&b, ", %d undecided", s.Undecided)
	}
	b.WriteString("\n")
	if lf := r.LineFlood; lf != nil {
		with := ""
		if lf.PositionReadsWithTicket {
			with = " (with tickets)"
		}
		fmt.Fprintf(&b, "line-flood: %d joined, %.0f joins/s, %d position reads%s p50 %.2fms p99 %.2fms",
			lf.Joined, lf.JoinsPerSecond, lf.PositionReads, with, lf.PositionP50Ms, lf.PositionP99Ms)
		if lf.RSSSource != "" {
			fmt.Fprintf(&b, ", server RSS %s -> %s (%s, %.0f B/user)", mib(lf.ServerRSSBefore), mib(lf.ServerRSSAfter), lf.RSSSource, lf.RSSPerUser)
		}
		if lf.RedisAfter > 0 {
			fmt.Fprintf(&b, ", Redis %s -> %s (%.0f B/waiting user)", mib(lf.RedisBefore), mib(lf.RedisAfter), lf.RedisPerUser)
		}
		if lf.MemoryNotMeasure != "" {
			fmt.Fprintf(&b, " (%s)", lf.MemoryNotMeasure)
		}
		b.WriteString("\n")
	}

	if cr := r.CouponRush; cr != nil {
		writeCouponRush(&b, cr)
	}

	verdict := "PASSED"
	if !r.Audit.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "\naudit %s", verdict)
	if n := len(r.Drops); n > 0 {
		fmt.Fprintf(&b, " (%d of %d drops passed, each audited on its own)", passedDrops(r.Drops), n)
	}
	b.WriteString("\n")
	checks := append([]Check(nil), r.Audit.Checks...)
	sort.SliceStable(checks, func(i, j int) bool { return !checks[i].Passed && checks[j].Passed })
	for _, c := range checks {
		mark := "ok  "
		if !c.Passed {
			mark = "FAIL"
		} else if len(r.Drops) > 0 {
			// The table lists every drop; only the failed ones need their checks.
			continue
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", mark, c.Name, c.Detail)
	}
	if n := passedDrops(r.Drops); n > 0 {
		fmt.Fprintf(&b, "  ok   %d drops passed every check (--json has each drop's checks)\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDrops prints the per-drop table of a multi-drop run, total last.
func writeDrops(b *strings.Builder, drops []DropReport, total *DropReport) error {
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "drop\trequests\t2xx\t409\terrors\tp50 ms\tp99 ms\tissued\taudit")
	row := func(name string, d DropReport, audit string) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%d/%d\t%s\n", name, d.Requests, d.S2xx, d.S409, d.Errors,
			d.Latency.P50Ms, d.Latency.P99Ms, d.Issued, d.Drop.Stock, audit)
	}
	for _, d := range drops {
		audit := "passed"
		if !d.Audit.Passed {
			audit = "FAILED: " + strings.Join(d.FailedChecks(), "; ")
		}
		row(d.Drop.ID, d, audit)
	}
	if total != nil {
		row("total", *total, fmt.Sprintf("%d of %d drops passed", passedDrops(drops), len(drops)))
	}
	return tw.Flush()
}

func passedDrops(drops []DropReport) int {
	n := 0
	for _, d := range drops {
		if d.Audit.Passed {
			n++
		}
	}
	return n
}

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

func writeCouponRush(b *strings.Builder, cr *CouponRushReport) {
	fmt.Fprintf(b, "coupon-rush: polls %s; %d status polls (%.1f per user, %d with a ticket), peak %.0f/s, mean %.0f/s\n",
		cr.PollMode, cr.StatusPolls, cr.PollsPerUser, cr.PollsWithTicket, cr.PeakPollsPerSecond, cr.MeanPollsPerSecond)
	if cr.PrequeueUsers > 0 {
		fmt.Fprintf(b, "  pre-queue: %d users planned over %.1fs, %d answered pre_queue", cr.PrequeueUsers, cr.PrequeueWindowSeconds, cr.PrequeueJoined)
		if cr.PrequeueRankCorrelation != nil {
			fmt.Fprintf(b, ", arrival/issue rank correlation %.4f", *cr.PrequeueRankCorrelation)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "  waiting at the peak: %d (at %.1fs, sampled every %.2fs)", cr.WaitingPeak, cr.WaitingPeakAtSeconds, cr.SampleSeconds)
	if cr.ServerRSSPeak > 0 {
		fmt.Fprintf(b, ", server RSS peak %s (%s)", mib(cr.ServerRSSPeak), cr.RSSSource)
	}
	if cr.RedisAtPeak > 0 {
		fmt.Fprintf(b, ", Redis %s -> %s (%.0f B per waiting buyer)", mib(cr.RedisBefore), mib(cr.RedisAtPeak), cr.RedisPerWaiting)
	}
	b.WriteString("\n")
	if cr.OpenToDecidedSeconds != nil {
		fmt.Fprintf(b, "  every user decided %.2fs after opening\n", *cr.OpenToDecidedSeconds)
	}
	for _, n := range cr.Notes {
		fmt.Fprintf(b, "  (%s)\n", n)
	}
}
