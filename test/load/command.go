package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// EmbedFunc starts an in-process server with the given inventory strategy (empty
// for its default) and returns its base URL, its admin token and a function that
// stops it.
type EmbedFunc func(ctx context.Context, strategy string) (baseURL, adminToken string, stop func(context.Context) error, err error)

// CompareStrategies is the order in which --compare-strategies runs the
// inventory strategies.
var CompareStrategies = []string{"redis", "redislock", "mysql"}

// options are the command's flags, kept apart from Config because several are
// about the command (output files, comparisons) rather than one run.
type options struct {
	cfg         Config
	stages      string
	embedded    bool
	strategy    string
	jsonPath    string
	htmlPath    string
	compare     bool
	servers     string
	noProgress  bool
	admitRate   float64
	perUser     int
	stopTimeout time.Duration
	fixedPoll   time.Duration
	prequeue    string
}

// NewCommand returns the "load [scenario]" command. embed starts an in-process
// server for --embedded; it may be nil when the binary has none.
func NewCommand(embed EmbedFunc) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "load [scenario]",
		Short: "Drive a fastdeal server with an open-model load scenario and audit the result",
		Long: `load runs one of the scenarios of docs/scenarios.md against a fastdeal server:

  concert-spike  one seated drop (10,000 seats), 90,000 claims in stages of 100..500/s
  coupon-rush    one queued general drop (1,000 coupons), 20,000 users join and poll
  line-flood     joins into a paused queued drop as fast as the server answers

Requests start on schedule whatever the server does (open model); latency is
measured from each request's intended start. --speed X multiplies rates and
divides durations. Every run ends with an audit of the server's issuances; a
failed audit exits non-zero.

--drops N runs N drops at once, each its own sale with the scenario's
--stock and --users (so one drop of N is the single-drop run; the run offers
N times its rate), over one connection pool and --max-inflight. Drop ids are
<run id>-d01..; every drop is audited on its own and the report has a line
per drop; one failed drop fails the run:

  fastdeal load coupon-rush --embedded --drops 30 --users 500 --stock 100

coupon-rush users poll when the server says (poll_after_ms) and present their
line ticket; --fixed-poll 2s replays the seeds' fixed polling instead. At
national scale, with a pre-queue that opens ten minutes before the sale:

  fastdeal load coupon-rush --users 1000000 --stock 100000 --admit-rate 2000 \
    --ramp 120s --prequeue 30% --metrics-url http://127.0.0.1:6060/metrics --redis 127.0.0.1:6379`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: Scenarios,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			scenario := ConcertSpike
			if len(args) == 1 {
				scenario = args[0]
			}
			if !isScenario(scenario) {
				return fmt.Errorf("unknown scenario %q (want one of %s)", scenario, strings.Join(Scenarios, ", "))
			}
			if err := o.finish(cmd, scenario); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			if o.compare {
				return o.runCompare(ctx, cmd.OutOrStdout(), embed)
			}
			return o.runOne(ctx, cmd.OutOrStdout(), embed)
		},
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.BaseURL, "target", "http://127.0.0.1:8080", "base URL of the server under load")
	f.BoolVar(&o.embedded, "embedded", false, "start an in-process server (memory adapters unless --strategy) and load it")
	f.StringVar(&o.strategy, "strategy", "", "inventory strategy of the --embedded server (memory|mysql|redis|redislock; empty: its default)")
	f.Float64Var(&c.Speed, "speed", 1, "compress the schedule: rates times X, durations divided by X")
	// Secrets default from the environment at run time, not here, so that --help
	// never prints them.
	f.StringVar(&c.AdminToken, "admin-token", "", "admin bearer token (default $FASTDEAL_ADMIN_TOKEN)")
	f.StringVar(&c.JWTSecret, "jwt-secret", "", "mint HS256 buyer tokens with this secret; empty: send X-User-ID (default $FASTDEAL_JWT_SECRET)")
	f.StringVar(&c.MySQLDSN, "mysql-dsn", "", "also audit table issuances in this MySQL (user:pass@tcp(host:3306)/db?parseTime=true)")
	f.StringVar(&c.RedisAddr, "redis", "", "line-flood, coupon-rush: read Redis used_memory here (host:port) to report bytes per waiting user")
	f.StringVar(&c.RedisAddr, "redis-addr", "", "the same as --redis")
	_ = f.MarkHidden("redis-addr")
	f.StringVar(&c.MetricsURL, "metrics-url", "", "coupon-rush, line-flood: the server's /metrics URL on its private admin listener (FASTDEAL_ADMIN_ADDR), read to report its RSS")
	f.StringVar(&o.jsonPath, "json", "", "write the full report as JSON to this file")
	f.StringVar(&o.htmlPath, "html", "", "write a self-contained HTML page with latency and throughput charts to this file")
	f.Int64Var(&c.Seed, "seed", 1, "seed for --poisson arrivals")
	f.BoolVar(&c.Poisson, "poisson", false, "space arrivals as a Poisson process instead of evenly")
	f.DurationVar(&c.Timeout, "timeout", 10*time.Second, "per-request timeout")
	f.DurationVar(&c.Duration, "duration", 0, "line-flood: length of the join phase (default 10s); others: hard limit on the run (default twice the plan plus 30s); scaled by --speed")
	f.IntVar(&c.MaxInFlight, "max-inflight", 4096, "most requests in flight at once; arrivals beyond wait and count as late")
	f.IntVar(&c.Drops, "drops", 1, "concert-spike, coupon-rush: run this many drops at once, each with the --stock and --users below (N times the load), each audited on its own")
	f.StringVar(&c.RunID, "run-id", "", "with --drops above 1: drop ids are RUN_ID-d01.. (default: the scenario, the start time and a random suffix)")
	f.IntVar(&c.Stock, "stock", 0, "seats (concert-spike, default 10000) or units (coupon-rush 1000, line-flood 10000000), per drop")
	f.IntVar(&c.Users, "users", 0, "distinct buyers per drop (concert-spike: default one per claim; coupon-rush 20000; line-flood: most joins, 200000)")
	f.IntVar(&o.perUser, "per-user-limit", 1, "the drop's per_user_limit")
	f.StringVar(&o.stages, "stages", FormatStages(DefaultConcertStages), "concert-spike schedule as DURATION:RATE,...")
	f.DurationVar(&c.Ramp, "ramp", 10*time.Second, "coupon-rush: users arrive evenly over this window")
	f.DurationVar(&c.Wait, "wait", time.Second, "coupon-rush: pause between joining and the first status poll")
	f.DurationVar(&c.Poll, "poll", 2*time.Second, "coupon-rush: interval between status polls when an answer has no poll_after_ms")
	f.DurationVar(&o.fixedPoll, "fixed-poll", 0, "coupon-rush: poll every this long (--wait after joining) and send no ticket, as the seeds did; 0: as the server says")
	f.DurationVar(&c.PrequeueWindow, "prequeue-window", 10*time.Minute, "coupon-rush: how long before opening the pre-queue opens (scaled by --speed)")
	f.StringVar(&o.prequeue, "prequeue", "", "coupon-rush: share of users (30% or 0.3) who join a pre-queue before opening (see --prequeue-window); the rest arrive over --ramp after it")
	f.Float64Var(&o.admitRate, "admit-rate", 100, "coupon-rush: the drop's admit_rate per second (scaled by --speed)")
	f.IntVar(&c.MaxPolls, "max-polls", 1000, "coupon-rush: most status polls per user")
	f.IntVar(&c.Concurrency, "concurrency", 64, "line-flood: concurrent joining workers")
	f.IntVar(&c.Sample, "sample", 10000, "line-flood: users whose position is read back")
	f.BoolVar(&o.compare, "compare-strategies", false, "run concert-spike once per inventory strategy (redis, redislock, mysql) and print one table")
	f.StringVar(&o.servers, "servers", "", "with --compare-strategies and without --embedded: strategy=URL,... of freshly started servers")
	f.BoolVar(&o.noProgress, "no-progress", false, "do not draw the progress bar")
	f.DurationVar(&o.stopTimeout, "stop-timeout", 30*time.Second, "how long an --embedded server may take to stop")
	return cmd
}

// finish turns the flags into the run's Config.
func (o *options) finish(cmd *cobra.Command, scenario string) error {
	c := &o.cfg
	c.Scenario = scenario
	if c.AdminToken == "" {
		c.AdminToken = os.Getenv("FASTDEAL_ADMIN_TOKEN")
	}
	if c.JWTSecret == "" {
		c.JWTSecret = os.Getenv("FASTDEAL_JWT_SECRET")
	}
	// Config reads zero drops as one; a --drops 0 on the command line is a slip.
	if cmd.Flags().Changed("drops") && c.Drops < 1 {
		return errors.New("--drops must be at least 1")
	}
	stages, err := ParseStages(o.stages)
	if err != nil {
		return fmt.Errorf("--stages: %w", err)
	}
	c.Stages = stages
	c.AdmitRate = o.admitRate
	c.PerUserLimit = o.perUser
	if o.fixedPoll < 0 {
		return errors.New("--fixed-poll must not be negative")
	}
	if o.fixedPoll > 0 {
		c.FixedPoll, c.Poll = true, o.fixedPoll
	}
	if o.prequeue != "" {
		if c.Prequeue, err = ParseFraction(o.prequeue); err != nil {
			return fmt.Errorf("--prequeue: %w", err)
		}
	}
	if !o.noProgress {
		c.Progress = cmd.ErrOrStderr()
	}
	if o.compare && o.embedded == (o.servers != "") {
		return errors.New("--compare-strategies needs either --embedded or --servers (strategy=URL pairs, comma-separated)")
	}
	return nil
}

func (o *options) runOne(ctx context.Context, out io.Writer, embed EmbedFunc) error {
	cfg := o.cfg
	if o.embedded {
		stop, err := o.startEmbedded(ctx, embed, o.strategy, &cfg)
		if err != nil {
			return err
		}
		defer o.stopEmbedded(stop)
	}
	rep, err := Run(ctx, cfg)
	if rep != nil {
		if werr := o.write(out, rep, ""); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

func (o *options) startEmbedded(ctx context.Context, embed EmbedFunc, strategy string, cfg *Config) (func(context.Context) error, error) {
	if embed == nil {
		return nil, errors.New("--embedded: this binary has no in-process server")
	}
	url, token, stop, err := embed(ctx, strategy)
	if err != nil {
		return nil, fmt.Errorf("start embedded server (strategy %q): %w", strategy, err)
	}
	cfg.BaseURL, cfg.AdminToken, cfg.InProcess = url, token, true
	cfg.Strategy = strategy
	return stop, nil
}

func (o *options) stopEmbedded(stop func(context.Context) error) {
	if stop == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.stopTimeout)
	defer cancel()
	if err := stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "stop embedded server: %v\n", err)
	}
}

// write prints the text report and the requested files; suffix tells the
// files of a comparison apart.
func (o *options) write(out io.Writer, rep *Report, suffix string) error {
	if err := rep.WriteText(out); err != nil {
		return err
	}
	if o.jsonPath != "" {
		if err := rep.WriteJSON(withSuffix(o.jsonPath, suffix)); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if o.htmlPath != "" {
		if err := rep.WriteHTML(withSuffix(o.htmlPath, suffix)); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
	}
	return nil
}

func withSuffix(path, suffix string) string {
	if suffix == "" {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + suffix + ext
}

// parseServers reads "redis=http://...,mysql=http://...".
func parseServers(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--servers: %q is not strategy=URL", part)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

// CompareRow is one strategy's line of the --compare-strategies table.
type CompareRow struct {
	Strategy   string  `json:"strategy"`
	Throughput float64 `json:"throughput_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Errors     int64   `json:"errors"`
	Issued     int     `json:"issued"`
	Audit      string  `json:"audit"`
}

func (o *options) runCompare(ctx context.Context, out io.Writer, embed EmbedFunc) error {
	var urls map[string]string
	if !o.embedded {
		var err error
		if urls, err = parseServers(o.servers); err != nil {
			return err
		}
		for k := range urls {
			if !slices.Contains(CompareStrategies, k) {
				return fmt.Errorf("--servers: unknown strategy %q (want %s)", k, strings.Join(CompareStrategies, ", "))
			}
		}
	}
	var rows []CompareRow
	var failures []error
	for _, strategy := range CompareStrategies {
		if ctx.Err() != nil {
			break
		}
		cfg := o.cfg
		cfg.Scenario = ConcertSpike
		cfg.Strategy = strategy
		var stop func(context.Context) error
		if o.embedded {
			var err error
			if stop, err = o.startEmbedded(ctx, embed, strategy, &cfg); err != nil {
				rows = append(rows, CompareRow{Strategy: strategy, Audit: "not run: " + err.Error()})
				failures = append(failures, err)
				continue
			}
		} else {
			url, ok := urls[strategy]
			if !ok {
				rows = append(rows, CompareRow{Strategy: strategy, Audit: "not run: no --servers entry"})
				continue
			}
			cfg.BaseURL = url
		}
		rep, err := Run(ctx, cfg)
		o.stopEmbedded(stop)
		rows = append(rows, compareRow(strategy, rep, err))
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", strategy, err))
		}
		if rep != nil {
			if werr := o.write(io.Discard, rep, strategy); werr != nil {
				failures = append(failures, werr)
			}
		}
	}
	if err := writeCompareTable(out, rows); err != nil {
		return err
	}
	return errors.Join(failures...)
}

func compareRow(strategy string, rep *Report, err error) CompareRow {
	row := CompareRow{Strategy: strategy, Audit: "passed"}
	if rep != nil {
		if e, ok := rep.Endpoint(EndpointClaim); ok {
			row.Throughput, row.P50Ms, row.P99Ms, row.MaxMs = e.Throughput, e.Latency.P50Ms, e.Latency.P99Ms, e.Latency.MaxMs
			row.Errors = e.Status.S4xx + e.Status.S5xx + e.Status.Other + e.Errors.Total()
		}
		row.Issued = rep.Sale.Issued
	}
	var ae *AuditError
	switch {
	case errors.As(err, &ae):
		row.Audit = "FAILED: " + strings.Join(ae.Failures, "; ")
	case err != nil:
		row.Audit = "error: " + err.Error()
	}
	return row
}

func writeCompareTable(w io.Writer, rows []CompareRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nstrategy\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tissued\taudit")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s\n",
			r.Strategy, r.Throughput, r.P50Ms, r.P99Ms, r.MaxMs, r.Errors, r.Issued, r.Audit)
	}
	return tw.Flush()
}
