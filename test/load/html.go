package load

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// echartsJS is ECharts 5.6.0 (Apache-2.0, see assets/echarts.LICENSE), gzipped.
// Inlining it keeps the page readable offline, where load runs happen.
//
//go:embed assets/echarts.min.js.gz
var echartsJS []byte

//go:embed assets/report.html.tmpl
var reportTemplate string

// endpointColors give each endpoint one colour on every chart and in the
// table, in the order the report lists endpoints. Red is left out: it means
// failure on this page.
var endpointColors = []string{"#3867d6", "#e58e26", "#20bf6b", "#8854d0", "#0fb9b1", "#a5673f"}

// failColor marks failures: failed checks, error cells.
const failColor = "#d63031"

func endpointColor(i int) string { return endpointColors[i%len(endpointColors)] }

// WriteHTML writes a self-contained page: the verdict and every audit
// criterion first, then a table per endpoint, then the charts and the
// scenario's details.
func (r *Report) WriteHTML(path string) error {
	var buf bytes.Buffer
	if err := r.RenderHTML(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// RenderHTML renders the page WriteHTML writes.
func (r *Report) RenderHTML(w io.Writer) error {
	js, err := gunzip(echartsJS)
	if err != nil {
		return fmt.Errorf("inline echarts: %w", err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		return err
	}
	charts := r.charts()
	chartsJSON, err := json.Marshal(charts)
	if err != nil {
		return fmt.Errorf("chart options: %w", err)
	}
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"int": fmtInt, "ms": fmtMs, "num": fmtNum, "rate": fmtRate, "pct": fmtPct,
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	data := pageData{
		Report: r,
		Title:  fmt.Sprintf("fastdeal load: %s", r.Scenario),
		// A literal "</script" inside the library would end the tag early.
		ECharts:   template.JS(strings.ReplaceAll(string(js), "</script", `<\/script`)),
		Charts:    template.JS(chartsJSON),
		Text:      text.String(),
		FailColor: failColor,
		ChartList: charts,
	}
	data.fill()
	return tmpl.Execute(w, data)
}

// pageData is what the template shows, computed here so the template only lays out.
type pageData struct {
	*Report
	Title     string
	ECharts   template.JS
	Charts    template.JS
	Text      string
	FailColor string
	ChartList []chart

	Verdict       string
	ChecksPassed  int
	Checks        []Check
	Tiles         []tile
	Rows          []endpointRow
	Sale          []fact
	ScenarioFacts []fact
	ScenarioName  string
	Notes         []string
	Run           []fact
	DropRows      []dropRow
}

// dropRow is one line of a multi-drop run's per-drop table (Total: the sum).
type dropRow struct {
	Name                         string
	Requests, S2xx, S409, Errors int64
	P50Ms, P99Ms                 float64
	Issued, Stock                int64
	Audit                        string
	Failed, Total                bool
}

// tile is one key figure at the top of the page.
type tile struct {
	Label, Value, Sub string
	Bad               bool
}

// fact is one labelled value of a details list.
type fact struct{ Label, Value string }

// endpointRow is one endpoint's line of the table; zero counts render dimmed
// and failure counts above zero in red.
type endpointRow struct {
	Name, Color                  string
	Count                        int64
	Rate                         float64
	Latency                      Latency
	S2xx, S409, S429, S4xx, S5xx int64
	// NoAnswer is every transport error; NoAnswerWhy breaks it down.
	NoAnswer    int64
	NoAnswerWhy string
	Late        int64
}

func (d *pageData) fill() {
	r := d.Report
	d.Verdict = "PASSED"
	if !r.Audit.Passed {
		d.Verdict = "FAILED"
	}
	// Failed criteria first, each group in the audit's own order.
	d.Checks = append([]Check(nil), r.Audit.Checks...)
	sort.SliceStable(d.Checks, func(i, j int) bool { return !d.Checks[i].Passed && d.Checks[j].Passed })
	for _, c := range d.Checks {
		if c.Passed {
			d.ChecksPassed++
		}
	}

	var count, failed, limited int64
	for i, e := range r.Endpoints {
		count += e.Count
		f := e.Status.S4xx + e.Status.S5xx + e.Status.Other + e.Errors.Total()
		failed += f
		limited += e.Status.S429
		d.Rows = append(d.Rows, endpointRow{
			Name: e.Name, Color: endpointColor(i), Count: e.Count, Rate: e.Throughput, Latency: e.Latency,
			S2xx: e.Status.S2xx, S409: e.Status.S409, S429: e.Status.S429, S4xx: e.Status.S4xx,
			S5xx: e.Status.S5xx + e.Status.Other, NoAnswer: e.Errors.Total(), NoAnswerWhy: noAnswerWhy(e.Errors),
			Late: e.LateStarts,
		})
	}
	reqSub := ""
	if r.WallSeconds > 0 {
		reqSub = fmtRate(float64(count)/r.WallSeconds) + " req/s over the run"
	}
	failedSub := "5xx, no answer, or 4xx other than 409 and 429"
	if count > 0 {
		failedSub = fmtPct(float64(failed)/float64(count)) + " of requests: " + failedSub
	}
	d.Tiles = []tile{
		{Label: "Requests", Value: fmtInt(count), Sub: reqSub},
		{Label: "Failed requests", Value: fmtInt(failed), Sub: failedSub, Bad: failed > 0},
		{Label: "Issued", Value: fmtInt(int64(r.Sale.Issued)), Sub: "of stock " + fmtInt(int64(r.Drop.Stock)),
			Bad: r.Sale.Issued > r.Drop.Stock},
	}
	if r.Sale.SellOutSeconds != nil {
		d.Tiles = append(d.Tiles, tile{Label: "Sold out at", Value: fmtNum(*r.Sale.SellOutSeconds) + " s", Sub: "after the start"})
	}
	if worst, ok := r.worstP99(); ok {
		d.Tiles = append(d.Tiles, tile{Label: "Worst p99", Value: fmtMs(worst.Latency.P99Ms) + " ms", Sub: worst.Name})
	}
	if limited > 0 {
		d.Tiles = append(d.Tiles, tile{Label: "Rate-limited (429)", Value: fmtInt(limited),
			Sub: "lower --speed or raise FASTDEAL_RATE_PER_USER", Bad: true})
	}
	d.Tiles = append(d.Tiles, tile{Label: "Late starts", Value: fmtInt(r.Schedule.LateStarts),
		Sub: "over 1 ms behind schedule, max " + fmtMs(r.Schedule.MaxLateMs) + " ms"})

	s := r.Sale
	d.Sale = []fact{
		{"Issued (server)", fmtInt(int64(s.Issued))},
		{"Seen issued by clients", fmtInt(int64(s.ClientIssued))},
		{"Sold-out answers", fmtInt(s.SoldOutAnswers)},
	}
	if s.SeatTaken > 0 || r.Drop.Kind == "seated" {
		d.Sale = append(d.Sale, fact{"Seat-taken answers", fmtInt(s.SeatTaken)})
	}
	if s.LimitReached > 0 {
		d.Sale = append(d.Sale, fact{"Limit-reached answers", fmtInt(s.LimitReached)})
	}
	if s.FirstSoldOutSeconds != nil {
		d.Sale = append(d.Sale, fact{"First sold-out answer", fmtNum(*s.FirstSoldOutSeconds) + " s"})
	}
	if s.DecidedAfterLastArrivalSeconds != nil {
		d.Sale = append(d.Sale, fact{"Every buyer decided", fmtNum(*s.DecidedAfterLastArrivalSeconds) + " s after the last arrival"})
	}
	if s.Undecided > 0 {
		d.Sale = append(d.Sale, fact{"Undecided buyers", fmtInt(int64(s.Undecided))})
	}
	d.scenarioFacts()
	d.dropRows()

	d.Run = []fact{
		{"Target", r.Target},
		{"Speed", fmtNum(r.Speed) + "x"},
		{"Wall time", fmtNum(r.WallSeconds) + " s"},
		{"Drop", fmt.Sprintf("%s (%s, %s, stock %d, per user %d)", r.Drop.ID, r.Drop.Kind, r.Drop.Admission, r.Drop.Stock, r.Drop.PerUserLimit)},
		{"Schedule", fmt.Sprintf("%s arrivals planned, %s requests started, %s never started",
			fmtInt(int64(r.Schedule.Planned)), fmtInt(r.Schedule.Started), fmtInt(int64(r.Schedule.Unstarted)))},
		{"Users", fmtInt(int64(r.Config.Users))},
		{"Seed", strconv.FormatInt(r.Config.Seed, 10)},
	}
	if n := len(r.Drops); n > 0 {
		d.Run[3] = fact{"Drops", fmt.Sprintf("%d, %s..%s (%s, %s, stock %d each, per user %d)", n, r.Drops[0].Drop.ID, r.Drops[n-1].Drop.ID, r.Drop.Kind,
			r.Drop.Admission, r.Drops[0].Drop.Stock, r.Drop.PerUserLimit)}
		d.Run[5] = fact{"Users", fmtInt(int64(r.Config.Users)) + " per drop"}
	}
	if r.Strategy != "" {
		d.Run = append(d.Run[:1], append([]fact{{"Inventory strategy", r.Strategy}}, d.Run[1:]...)...)
	}
	if !r.StartedAt.IsZero() {
		d.Run = append(d.Run, fact{"Started", r.StartedAt.UTC().Format("2006-01-02 15:04:05 MST")})
	}
}

func (d *pageData) dropRows() {
	r := d.Report
	row := func(name string, dr DropReport, audit string, failed, total bool) dropRow {
		return dropRow{Name: name, Requests: dr.Requests, S2xx: dr.S2xx, S409: dr.S409, Errors: dr.Errors,
			P50Ms: dr.Latency.P50Ms, P99Ms: dr.Latency.P99Ms, Issued: int64(dr.Issued), Stock: int64(dr.Drop.Stock),
			Audit: audit, Failed: failed, Total: total}
	}
	for _, dr := range r.Drops {
		audit := "passed"
		if !dr.Audit.Passed {
			audit = "FAILED: " + strings.Join(dr.FailedChecks(), "; ")
		}
		d.DropRows = append(d.DropRows, row(dr.Drop.ID, dr, audit, !dr.Audit.Passed, false))
	}
	if r.AllDrops != nil && len(r.Drops) > 0 {
		passed := passedDrops(r.Drops)
		d.DropRows = append(d.DropRows, row("total", *r.AllDrops,
			fmt.Sprintf("%d of %d drops passed", passed, len(r.Drops)), passed < len(r.Drops), true))
	}
}

func (d *pageData) scenarioFacts() {
	r := d.Report
	if cr := r.CouponRush; cr != nil {
		d.ScenarioName = "Waiting line"
		d.ScenarioFacts = []fact{
			{"Polling", cr.PollMode},
			{"Status polls", fmt.Sprintf("%s (%s per user, %s with a ticket)", fmtInt(cr.StatusPolls), fmtNum(cr.PollsPerUser), fmtInt(cr.PollsWithTicket))},
			{"Polls per second", fmt.Sprintf("peak %s, mean %s", fmtRate(cr.PeakPollsPerSecond), fmtRate(cr.MeanPollsPerSecond))},
			{"Waiting at the peak", fmt.Sprintf("%s at %s s (sampled every %s s)", fmtInt(cr.WaitingPeak), fmtNum(cr.WaitingPeakAtSeconds), fmtNum(cr.SampleSeconds))},
		}
		if cr.PrequeueUsers > 0 {
			v := fmt.Sprintf("%s planned over %s s, %s answered pre_queue", fmtInt(int64(cr.PrequeueUsers)), fmtNum(cr.PrequeueWindowSeconds), fmtInt(int64(cr.PrequeueJoined)))
			if cr.PrequeueRankCorrelation != nil {
				v += fmt.Sprintf("; arrival/issue rank correlation %.4f", *cr.PrequeueRankCorrelation)
			}
			d.ScenarioFacts = append(d.ScenarioFacts, fact{"Pre-queue", v})
		}
		if cr.OpenToDecidedSeconds != nil {
			d.ScenarioFacts = append(d.ScenarioFacts, fact{"Everyone decided", fmtNum(*cr.OpenToDecidedSeconds) + " s after opening"})
		}
		if cr.ServerRSSPeak > 0 {
			d.ScenarioFacts = append(d.ScenarioFacts, fact{"Server RSS peak", mib(cr.ServerRSSPeak) + " (" + cr.RSSSource + ")"})
		}
		if cr.RedisAtPeak > 0 {
			d.ScenarioFacts = append(d.ScenarioFacts, fact{"Redis memory", fmt.Sprintf("%s → %s (%.0f B per waiting buyer)", mib(cr.RedisBefore), mib(cr.RedisAtPeak), cr.RedisPerWaiting)})
		}
		d.Notes = cr.Notes
	}
	if lf := r.LineFlood; lf != nil {
		d.ScenarioName = "Line flood"
		with := ""
		if lf.PositionReadsWithTicket {
			with = " (with tickets)"
		}
		d.ScenarioFacts = append(d.ScenarioFacts,
			fact{"Joined", fmt.Sprintf("%s (%s joins/s)", fmtInt(lf.Joined), fmtRate(lf.JoinsPerSecond))},
			fact{"Position reads" + with, fmt.Sprintf("%s, p50 %s ms, p99 %s ms", fmtInt(lf.PositionReads), fmtMs(lf.PositionP50Ms), fmtMs(lf.PositionP99Ms))})
		if lf.RSSSource != "" {
			d.ScenarioFacts = append(d.ScenarioFacts, fact{"Server RSS", fmt.Sprintf("%s → %s (%s, %.0f B per user)", mib(lf.ServerRSSBefore), mib(lf.ServerRSSAfter), lf.RSSSource, lf.RSSPerUser)})
		}
		if lf.RedisAfter > 0 {
			d.ScenarioFacts = append(d.ScenarioFacts, fact{"Redis memory", fmt.Sprintf("%s → %s (%.0f B per waiting user)", mib(lf.RedisBefore), mib(lf.RedisAfter), lf.RedisPerUser)})
		}
		if lf.MemoryNotMeasure != "" {
			d.Notes = append(d.Notes, lf.MemoryNotMeasure)
		}
	}
}

// noAnswerWhy names the kinds of transport errors that happened, e.g.
// "12 timeout, 3 reset", or just "timeout" when there was one kind; empty
// when there were none.
func noAnswerWhy(e ErrorCounts) string {
	var parts, names []string
	for _, k := range []struct {
		n    int64
		name string
	}{{e.Timeout, "timeout"}, {e.Refused, "refused"}, {e.Reset, "reset"}, {e.Other, "other"}} {
		if k.n > 0 {
			parts = append(parts, fmtInt(k.n)+" "+k.name)
			names = append(names, k.name)
		}
	}
	if len(names) == 1 {
		// The count is in the cell already.
		return names[0]
	}
	return strings.Join(parts, ", ")
}

func (r *Report) worstP99() (EndpointReport, bool) {
	var worst EndpointReport
	found := false
	for _, e := range r.Endpoints {
		if e.Count > 0 && (!found || e.Latency.P99Ms > worst.Latency.P99Ms) {
			worst, found = e, true
		}
	}
	return worst, found
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// chart is one ECharts instance: the element id, the option, and the unit
// the page's script appends to tooltip values.
type chart struct {
	ID     string         `json:"id"`
	Unit   string         `json:"unit"`
	Option map[string]any `json:"option"`
	// Title and Sub are shown above the chart, in the page.
	Title string `json:"-"`
	Sub   string `json:"-"`
}

// maxDisplayPoints bounds the points per line: the recorder keeps slices as
// fine as 10 ms, where arrivals come in bursts and a line of them is noise.
const maxDisplayPoints = 60

// charts are the page's charts, in order. Every chart has its units on both
// axes, and an endpoint keeps its colour across charts.
func (r *Report) charts() []chart {
	out := []chart{r.throughputChart(), r.latencyOverTimeChart(), r.percentileChart()}
	if cr := r.CouponRush; cr != nil && len(cr.Timeline) > 0 {
		out = append(out, waitingChart(cr.Timeline))
	}
	return out
}

func baseOption(xName, yName string) map[string]any {
	return map[string]any{
		"animation": false,
		"grid":      map[string]any{"left": 70, "right": 70, "top": 24, "bottom": 70},
		"tooltip":   map[string]any{"trigger": "axis"},
		"legend":    map[string]any{"bottom": 0, "type": "scroll"},
		"xAxis": map[string]any{"type": "value", "name": xName, "nameLocation": "middle", "nameGap": 28,
			"min": 0, "splitLine": map[string]any{"show": false}},
		"yAxis": map[string]any{"type": "value", "name": yName, "nameLocation": "middle", "nameGap": 50},
	}
}

// merged folds an endpoint's timeline into at most maxDisplayPoints slices of
// equal width: counts add up, so rates stay exact.
func merged(points []TimelinePoint) (xs []float64, answered, errs []int64, width float64) {
	w := bucketWidth(points)
	k := max(1, int(math.Ceil(float64(len(points))/maxDisplayPoints)))
	for i := 0; i < len(points); i += k {
		var a, e int64
		end := min(i+k, len(points))
		for _, p := range points[i:end] {
			a += p.Answered
			e += p.Errors
		}
		xs = append(xs, round(points[end-1].AtSeconds, 3))
		answered = append(answered, a)
		errs = append(errs, e)
	}
	return xs, answered, errs, w * float64(k)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func (r *Report) throughputChart() chart {
	o := baseOption("time since start (s)", "requests per second")
	var series []any
	slice := 0.0
	for i, e := range r.Endpoints {
		xs, answered, errs, width := merged(e.Timeline)
		slice = max(slice, width)
		ok := make([][2]float64, len(xs))
		bad := make([][2]float64, len(xs))
		anyErr := false
		for j := range xs {
			ok[j] = [2]float64{xs[j], round(float64(answered[j])/width, 1)}
			bad[j] = [2]float64{xs[j], round(float64(errs[j])/width, 1)}
			anyErr = anyErr || errs[j] > 0
		}
		c := endpointColor(i)
		series = append(series, lineSeries(e.Name, c, ok, "solid", true))
		// An error series of zeros only hides the lines that matter.
		if anyErr {
			s := lineSeries(e.Name+" failed", failColor, bad, "dashed", false)
			s["lineStyle"].(map[string]any)["width"] = 2
			series = append(series, s)
		}
	}
	o["series"] = series
	return chart{ID: "throughput", Unit: " req/s", Option: o,
		Title: "Throughput over time",
		Sub:   fmt.Sprintf("Answers per second by endpoint, in %s s slices. Failed requests (5xx, 4xx other than 409 and 429, no answer) are drawn dashed red, only when there were any.", fmtNum(slice))}
}

func lineSeries(name, color string, data [][2]float64, style string, area bool) map[string]any {
	s := map[string]any{
		"name": name, "type": "line", "showSymbol": false, "data": data, "color": color,
		"lineStyle": map[string]any{"color": color, "type": style, "width": 1.5},
	}
	if area {
		s["areaStyle"] = map[string]any{"opacity": 0.12}
	}
	return s
}

func (r *Report) latencyOverTimeChart() chart {
	o := baseOption("time since start (s)", "latency (ms, log scale)")
	o["yAxis"].(map[string]any)["type"] = "log"
	var series []any
	for i, e := range r.Endpoints {
		var p50, p99 [][2]float64
		for _, p := range e.Timeline {
			// A slice without requests has no latency: no point, not a zero
			// (which a log axis cannot show anyway).
			if p.Answered+p.Errors == 0 {
				continue
			}
			p50 = append(p50, [2]float64{round(p.AtSeconds, 3), p.P50Ms})
			p99 = append(p99, [2]float64{round(p.AtSeconds, 3), p.P99Ms})
		}
		c := endpointColor(i)
		series = append(series, lineSeries(e.Name+" p99", c, p99, "solid", false), lineSeries(e.Name+" p50", c, p50, "dotted", false))
	}
	o["series"] = series
	return chart{ID: "latency_time", Unit: " ms", Option: o, Title: "Latency over time",
		Sub: "p99 (solid) and p50 (dotted) of each slice, by endpoint, from each request's intended start; log scale."}
}

func (r *Report) percentileChart() chart {
	o := baseOption("", "latency (ms)")
	o["xAxis"] = map[string]any{"type": "category", "data": []string{"p50", "p90", "p99", "p99.9", "max"},
		"name": "percentile", "nameLocation": "middle", "nameGap": 28}
	o["tooltip"] = map[string]any{"trigger": "axis", "axisPointer": map[string]any{"type": "shadow"}}
	var series []any
	for i, e := range r.Endpoints {
		l := e.Latency
		series = append(series, map[string]any{
			"name": e.Name, "type": "bar", "color": endpointColor(i), "barMaxWidth": 48,
			"data":  []float64{l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs},
			"label": map[string]any{"show": true, "position": "top", "fontSize": 10},
		})
	}
	o["series"] = series
	return chart{ID: "percentiles", Unit: " ms", Option: o, Title: "Latency percentiles",
		Sub: "Whole run, by endpoint, from each request's intended start."}
}

// bucketWidth recovers the timeline's slice width in seconds from its points.
func bucketWidth(points []TimelinePoint) float64 {
	if len(points) == 0 || points[0].AtSeconds <= 0 {
		return 1
	}
	return points[0].AtSeconds
}

// waitingChart shows coupon-rush's line over time: buyers in the pre-queue and
// in line (left axis) against the status polls they sent (right axis).
func waitingChart(points []GaugePoint) chart {
	o := baseOption("time since start (s)", "buyers waiting")
	o["yAxis"] = []any{
		map[string]any{"type": "value", "name": "buyers waiting", "nameLocation": "middle", "nameGap": 50},
		map[string]any{"type": "value", "name": "status polls per second", "nameLocation": "middle", "nameGap": 50,
			"splitLine": map[string]any{"show": false}},
	}
	var pre, line, polls [][2]float64
	anyPre := false
	for _, p := range points {
		x := round(p.AtSeconds, 3)
		pre = append(pre, [2]float64{x, float64(p.PreQueue)})
		line = append(line, [2]float64{x, float64(p.Waiting)})
		polls = append(polls, [2]float64{x, round(p.PollsPerSecond, 1)})
		anyPre = anyPre || p.PreQueue > 0
	}
	series := []any{lineSeries("in line", "#3867d6", line, "solid", true)}
	if anyPre {
		series = append(series, lineSeries("pre-queue", "#8854d0", pre, "solid", true))
	}
	ps := lineSeries("status polls/s (right axis)", "#e58e26", polls, "solid", false)
	ps["yAxisIndex"] = 1
	series = append(series, ps)
	o["series"] = series
	return chart{ID: "waiting", Option: o, Title: "Waiting buyers and status polls",
		Sub: "Buyers waiting from the admin stats, line_length and pre_queue_length (left axis); status polls sent per second (right axis)."}
}

// fmtInt writes an integer with thin thousands separators.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(",")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtMs shows a latency with as many decimals as its size needs.
func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return fmtInt(int64(math.Round(v)))
}

// fmtNum shows a rate or a duration in seconds.
func fmtNum(v float64) string {
	if v >= 1000 {
		return fmtInt(int64(math.Round(v)))
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-0" {
		return "0"
	}
	return s
}

// fmtRate shows a per-second rate: whole numbers from 100 up.
func fmtRate(v float64) string {
	switch {
	case v >= 100:
		return fmtInt(int64(math.Round(v)))
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func fmtPct(f float64) string {
	if f > 0 && f < 0.0001 {
		return "<0.01%"
	}
	return strconv.FormatFloat(f*100, 'f', 2, 64) + "%"
}
