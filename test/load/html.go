package load

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"html"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// echartsJS is ECharts 5.6.0 (Apache-2.0, see assets/echarts.LICENSE), gzipped.
// go-echarts links it from a CDN; inlining it keeps the page readable offline,
// where load runs happen.
//
//go:embed assets/echarts.min.js.gz
var echartsJS []byte

var echartsScript = regexp.MustCompile(`<script src="[^"]*echarts\.min\.js"></script>`)

// WriteHTML writes a self-contained page: the text report, throughput over
// time, latency percentiles over time and per endpoint.
func (r *Report) WriteHTML(path string) error {
	var buf bytes.Buffer
	if err := r.RenderHTML(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// RenderHTML renders the page WriteHTML writes.
func (r *Report) RenderHTML(w io.Writer) error {
	page := components.NewPage()
	page.SetPageTitle(fmt.Sprintf("fastdeal load: %s", r.Scenario))
	page.AddCharts(r.throughputChart(), r.latencyOverTimeChart(), r.percentileChart())
	if cr := r.CouponRush; cr != nil && len(cr.Timeline) > 0 {
		page.AddCharts(waitingChart(cr.Timeline))
	}
	var raw bytes.Buffer
	if err := page.Render(&raw); err != nil {
		return fmt.Errorf("render charts: %w", err)
	}
	js, err := gunzip(echartsJS)
	if err != nil {
		return fmt.Errorf("inline echarts: %w", err)
	}
	out := raw.Bytes()
	loc := echartsScript.FindIndex(out)
	if loc == nil {
		return fmt.Errorf("inline echarts: no echarts script tag in the rendered page")
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		return err
	}
	summary := []byte(`<pre style="font:12px monospace;margin:16px">` + html.EscapeString(text.String()) + "</pre>")

	var b bytes.Buffer
	b.Write(out[:loc[0]])
	b.WriteString("<script>")
	// A literal "</script" inside the library would end the tag early.
	b.Write(bytes.ReplaceAll(js, []byte("</script"), []byte(`<\/script`)))
	b.WriteString("</script>")
	rest := out[loc[1]:]
	if i := bytes.Index(rest, []byte("<body>")); i >= 0 {
		i += len("<body>")
		b.Write(rest[:i])
		b.Write(summary)
		b.Write(rest[i:])
	} else {
		b.Write(rest)
		b.Write(summary)
	}
	_, err = w.Write(b.Bytes())
	return err
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

func chartInit(id string) charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{Width: "1100px", Height: "420px", ChartID: id})
}

// static turns off ECharts' entry animation: a report is read (and printed or
// screenshotted) as it stands, not watched growing.
var static = charts.WithAnimation(false)

// timeAxis is the longest endpoint timeline's bucket ends, in seconds.
func (r *Report) timeAxis() []string {
	var longest []TimelinePoint
	for _, e := range r.Endpoints {
		if len(e.Timeline) > len(longest) {
			longest = e.Timeline
		}
	}
	xs := make([]string, len(longest))
	for i, p := range longest {
		xs[i] = strconv.FormatFloat(p.AtSeconds, 'f', 2, 64)
	}
	return xs
}

func padded(n int, points []TimelinePoint, v func(TimelinePoint) float64) []opts.LineData {
	out := make([]opts.LineData, n)
	for i := range out {
		out[i] = opts.LineData{Value: 0.0}
		if i < len(points) {
			out[i].Value = v(points[i])
		}
	}
	return out
}

func (r *Report) throughputChart() *charts.Line {
	c := charts.NewLine()
	xs := r.timeAxis()
	c.SetGlobalOptions(
		chartInit("throughput"), static,
		charts.WithTitleOpts(opts.Title{Title: "Throughput over time", Subtitle: "completed requests per second, by endpoint; errors separately"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}),
		charts.WithXAxisOpts(opts.XAxis{Name: "s"}),
		charts.WithYAxisOpts(opts.YAxis{Name: "req/s"}),
	)
	c.SetXAxis(xs)
	for _, e := range r.Endpoints {
		width := bucketWidth(e.Timeline)
		c.AddSeries(e.Name, padded(len(xs), e.Timeline, func(p TimelinePoint) float64 { return float64(p.Answered) / width }))
		c.AddSeries(e.Name+" errors", padded(len(xs), e.Timeline, func(p TimelinePoint) float64 { return float64(p.Errors) / width }))
	}
	return c
}

// bucketWidth recovers the timeline's slice width in seconds from its points.
func bucketWidth(points []TimelinePoint) float64 {
	if len(points) == 0 || points[0].AtSeconds <= 0 {
		return 1
	}
	return points[0].AtSeconds
}

func (r *Report) latencyOverTimeChart() *charts.Line {
	c := charts.NewLine()
	xs := r.timeAxis()
	c.SetGlobalOptions(
		chartInit("latency_time"), static,
		charts.WithTitleOpts(opts.Title{Title: "Latency over time", Subtitle: "p50 and p99 per slice, from each request's intended start (ms, log scale)"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}),
		charts.WithXAxisOpts(opts.XAxis{Name: "s"}),
		charts.WithYAxisOpts(opts.YAxis{Name: "ms", Type: "log"}),
	)
	c.SetXAxis(xs)
	for _, e := range r.Endpoints {
		c.AddSeries(e.Name+" p50", nullEmpty(len(xs), e.Timeline, func(p TimelinePoint) float64 { return p.P50Ms }))
		c.AddSeries(e.Name+" p99", nullEmpty(len(xs), e.Timeline, func(p TimelinePoint) float64 { return p.P99Ms }))
	}
	return c
}

// nullEmpty leaves slices without requests blank: a zero would break the log axis.
func nullEmpty(n int, points []TimelinePoint, v func(TimelinePoint) float64) []opts.LineData {
	out := make([]opts.LineData, n)
	for i := range out {
		out[i] = opts.LineData{Value: "-"}
		if i < len(points) && points[i].Answered+points[i].Errors > 0 {
			out[i].Value = v(points[i])
		}
	}
	return out
}

func (r *Report) percentileChart() *charts.Bar {
	c := charts.NewBar()
	c.SetGlobalOptions(
		chartInit("percentiles"), static,
		charts.WithTitleOpts(opts.Title{Title: "Latency percentiles", Subtitle: "whole run, by endpoint, from each request's intended start (ms)"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}),
		// ECharts draws bars on a log axis from an arbitrary floor, so linear here.
		charts.WithYAxisOpts(opts.YAxis{Name: "ms"}),
	)
	c.SetXAxis([]string{"p50", "p90", "p99", "p99.9", "max"})
	for _, e := range r.Endpoints {
		l := e.Latency
		vals := []float64{l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs}
		data := make([]opts.BarData, len(vals))
		for i, v := range vals {
			data[i] = opts.BarData{Value: v}
		}
		c.AddSeries(e.Name, data)
	}
	return c
}

// waitingChart shows coupon-rush's line over time: buyers in the pre-queue and
// in line (left axis) against the status polls they sent (right axis).
func waitingChart(points []GaugePoint) *charts.Line {
	c := charts.NewLine()
	c.SetGlobalOptions(
		chartInit("waiting"), static,
		charts.WithTitleOpts(opts.Title{Title: "Waiting buyers and status polls", Subtitle: "admin stats pre_queue_length and line_length; status polls per second sent"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}),
		charts.WithXAxisOpts(opts.XAxis{Name: "s"}),
		charts.WithYAxisOpts(opts.YAxis{Name: "buyers"}),
	)
	c.ExtendYAxis(opts.YAxis{Name: "polls/s"})
	xs := make([]string, len(points))
	pre := make([]opts.LineData, len(points))
	line := make([]opts.LineData, len(points))
	polls := make([]opts.LineData, len(points))
	for i, p := range points {
		xs[i] = strconv.FormatFloat(p.AtSeconds, 'f', 2, 64)
		pre[i] = opts.LineData{Value: p.PreQueue}
		line[i] = opts.LineData{Value: p.Waiting}
		polls[i] = opts.LineData{Value: p.PollsPerSecond, YAxisIndex: 1}
	}
	c.SetXAxis(xs)
	c.AddSeries("pre-queue", pre)
	c.AddSeries("in line", line)
	c.AddSeries("status polls/s", polls, charts.WithLineChartOpts(opts.LineChart{YAxisIndex: 1}))
	return c
}
