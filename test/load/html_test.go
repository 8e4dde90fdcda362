package load

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
)

// sampleReport is a failed concert-spike with two endpoints: claims had
// errors, seats had none.
func sampleReport() *Report {
	tl := func(errs int64) []TimelinePoint {
		var out []TimelinePoint
		for i := range 200 {
			p := TimelinePoint{AtSeconds: float64(i+1) * 0.05, Answered: int64(10 + i%7), P50Ms: 2 + float64(i%5), P99Ms: 20 + float64(i%11)}
			if i == 100 {
				p.Errors = errs
			}
			if i == 150 {
				p.Answered, p.P50Ms, p.P99Ms = 0, 0, 0 // a slice without requests
			}
			out = append(out, p)
		}
		return out
	}
	return &Report{
		Scenario: ConcertSpike, Target: "http://127.0.0.1:8080", Speed: 2, WallSeconds: 10,
		Drop:     DropInfo{ID: "d1", Kind: "seated", Admission: "open", Stock: 100, PerUserLimit: 1},
		Schedule: ScheduleReport{Planned: 3000, Started: 3200, LateStarts: 12, MaxLateMs: 3.5},
		Endpoints: []EndpointReport{
			{Name: EndpointClaim, Count: 3000, Throughput: 300, Latency: Latency{P50Ms: 3.2, P90Ms: 8, P99Ms: 31.5, P999Ms: 80, MaxMs: 120},
				Status: StatusCounts{S2xx: 100, S409: 2880, S5xx: 17}, Errors: ErrorCounts{Timeout: 3}, Timeline: tl(20)},
			{Name: "seats", Count: 200, Throughput: 20, Latency: Latency{P50Ms: 1, P90Ms: 2, P99Ms: 4, P999Ms: 5, MaxMs: 6},
				Status: StatusCounts{S2xx: 200}, Timeline: tl(0)},
		},
		Sale: SaleReport{Issued: 100, ClientIssued: 100, SoldOutAnswers: 2000, SeatTaken: 880},
		Audit: AuditReport{Passed: false, Checks: []Check{
			{Name: "no oversell", Passed: true, Detail: "100 issued of stock 100"},
			{Name: "zero failed requests", Passed: false, Detail: "20 failed requests"},
		}},
	}
}

func renderSample(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.RenderHTML(&b); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("FASTDEAL_REPORT_SAMPLE"); path != "" {
		// For looking at the page: FASTDEAL_REPORT_SAMPLE=/tmp/s.html go test -run HTML ./test/load/
		_ = os.WriteFile(path, b.Bytes(), 0o644)
	}
	return b.String()
}

// chartsOf decodes the chart options the page hands to ECharts.
func chartsOf(t *testing.T, page string) []chart {
	t.Helper()
	m := regexp.MustCompile(`var charts = (\[.*?\]);\n`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no chart options in the page")
	}
	var cs []chart
	if err := json.Unmarshal([]byte(m[1]), &cs); err != nil {
		t.Fatalf("chart options: %v", err)
	}
	return cs
}

func TestHTMLVerdictAndCriteriaComeFirst(t *testing.T) {
	page := renderSample(t, sampleReport())
	verdict := strings.Index(page, "audit FAILED")
	failedCheck := strings.Index(page, "zero failed requests")
	passedCheck := strings.Index(page, "no oversell")
	table := strings.Index(page, "<h2>Endpoints</h2>")
	chart := strings.Index(page, "Throughput over time")
	if verdict < 0 || failedCheck < 0 || passedCheck < 0 || table < 0 || chart < 0 {
		t.Fatalf("page lacks a part: verdict %d, checks %d/%d, table %d, chart %d", verdict, failedCheck, passedCheck, table, chart)
	}
	if !(verdict < failedCheck && failedCheck < passedCheck && passedCheck < table && table < chart) {
		t.Fatalf("order: verdict %d, failed check %d, passed check %d, endpoint table %d, charts %d; want the verdict, failed criteria, passed ones, the table, then charts",
			verdict, failedCheck, passedCheck, table, chart)
	}
	if !strings.Contains(page, "1 of 2 criteria passed") {
		t.Error("the verdict does not count the criteria")
	}
	// The table shows every failure class: 5xx and the transport errors.
	for _, want := range []string{">17<", "3 <small>(timeout)</small>", "2,880"} {
		if !strings.Contains(page, want) {
			t.Errorf("endpoint table lacks %q", want)
		}
	}
	if strings.Contains(page, "<script src=") {
		t.Error("the page links a script instead of inlining it")
	}
}

func TestHTMLChartsHaveUnitsColoursAndNoEmptyErrorSeries(t *testing.T) {
	page := renderSample(t, sampleReport())
	cs := chartsOf(t, page)
	if len(cs) != 3 {
		t.Fatalf("%d charts, want 3 (no waiting chart without coupon-rush)", len(cs))
	}
	colorOf := map[string]string{}
	for i, name := range []string{EndpointClaim, "seats"} {
		colorOf[name] = endpointColor(i)
		if !strings.Contains(page, `style="background:`+endpointColor(i)+`"`) {
			t.Errorf("the table's swatch of %s is not its chart colour %s", name, endpointColor(i))
		}
	}
	for _, c := range cs {
		for _, axis := range []string{"xAxis", "yAxis"} {
			ax, _ := c.Option[axis].(map[string]any)
			if name, _ := ax["name"].(string); name == "" {
				t.Errorf("chart %s: %s has no name (unit)", c.ID, axis)
			}
		}
		for _, s := range c.Option["series"].([]any) {
			s := s.(map[string]any)
			name := s["name"].(string)
			ep := strings.Fields(name)[0]
			if strings.HasSuffix(name, " failed") {
				if ep != EndpointClaim {
					t.Errorf("chart %s draws %q, an error series of zeros", c.ID, name)
				}
				if s["color"] != failColor {
					t.Errorf("chart %s: %q colour %v, want %s", c.ID, name, s["color"], failColor)
				}
				continue
			}
			if s["color"] != colorOf[ep] {
				t.Errorf("chart %s: %q colour %v, want %s (the endpoint's colour everywhere)", c.ID, name, s["color"], colorOf[ep])
			}
		}
	}
	// Slices without requests have no latency point (a zero would break the
	// log axis and lie); throughput is folded into at most maxDisplayPoints.
	for _, c := range cs {
		for _, s := range c.Option["series"].([]any) {
			s := s.(map[string]any)
			n := len(s["data"].([]any))
			switch {
			case c.ID == "latency_time" && n != 199:
				t.Errorf("latency series %s has %d points, want 199 (one slice had no requests)", s["name"], n)
			case c.ID == "throughput" && n > maxDisplayPoints:
				t.Errorf("throughput series %s has %d points, more than %d", s["name"], n, maxDisplayPoints)
			}
		}
	}
}

func TestHTMLFoldedThroughputKeepsRates(t *testing.T) {
	var points []TimelinePoint
	for i := range 200 {
		points = append(points, TimelinePoint{AtSeconds: float64(i+1) * 0.01, Answered: 3, Errors: int64(i % 2)})
	}
	xs, answered, errs, width := merged(points)
	if len(xs) != 50 || math.Abs(width-0.04) > 1e-12 {
		t.Fatalf("%d points of %gs, want 50 of 0.04s", len(xs), width)
	}
	for i := range xs {
		if math.Abs(float64(answered[i])/width-300) > 1e-9 || errs[i] != 2 {
			t.Fatalf("slice %d: %d answered, %d errors", i, answered[i], errs[i])
		}
	}
	if xs[len(xs)-1] != 2 {
		t.Fatalf("last slice ends at %g, want 2", xs[len(xs)-1])
	}
}

func TestHTMLNumberFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtInt(1234567), "1,234,567"}, {fmtInt(-1000), "-1,000"}, {fmtInt(999), "999"},
		{fmtMs(3.14159), "3.14"}, {fmtMs(31.4159), "31.4"}, {fmtMs(3141.59), "3,142"}, {fmtMs(0), "0"},
		{fmtRate(222.99), "223"}, {fmtRate(22.299), "22.3"}, {fmtRate(2.2299), "2.23"},
		{fmtNum(2.50), "2.5"}, {fmtNum(10), "10"}, {fmtPct(0.25), "25.00%"}, {fmtPct(0.00001), "<0.01%"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
