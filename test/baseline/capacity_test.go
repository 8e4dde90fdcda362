package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The model's status load must be README's table ("Waiting at scale"): the
// pacing formula summed over 1,000,000 waiting buyers, jitter included.
func TestPollsPerSecondMatchesREADME(t *testing.T) {
	for _, c := range []struct {
		rate, maxPoll, want float64
	}{
		{500, 30, 37_200}, {500, 60, 21_000},
		{2000, 30, 47_600}, {2000, 60, 33_500},
		{10_000, 30, 102_700}, {10_000, 60, 99_600},
	} {
		got := pollsPerSecond(1_000_000, c.rate, c.maxPoll)
		if math.Abs(got-c.want)/c.want > 0.005 {
			t.Errorf("admit %.0f/s, max %.0f s: %.0f polls/s, README says %.0f", c.rate, c.maxPoll, got, c.want)
		}
	}
	// Near the head everyone polls about once a second.
	if got := pollsPerSecond(100, 1000, 30); math.Abs(got-100*jitterMean) > 1e-9 {
		t.Errorf("100 buyers within the first second: %.3f polls/s, want %.3f", got, 100*jitterMean)
	}
}

func TestMaxPerShard(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	if got := maxPerShard(50, 1, 100, 0.99, rng); got != 50 {
		t.Errorf("one shard holds %d of 50 drops", got)
	}
	// 50 drops over 50 shards: some shard nearly always gets two or more.
	if got := maxPerShard(50, 50, 1000, 0.5, rng); got < 2 {
		t.Errorf("median fullest of 50 shards holds %d drops, want at least 2", got)
	}
	// More shards never make the fullest fuller.
	if a, b := maxPerShard(50, 3, 10_000, 0.99, rng), maxPerShard(50, 12, 10_000, 0.99, rng); b > a {
		t.Errorf("fullest shard: %d of 3, %d of 12", a, b)
	}
}

func TestReadMeasuredAndModel(t *testing.T) {
	dir := t.TempDir()
	head := "run\tkind\trequests\tnon2xx\twall_s\treq_s\tapp_us\tredis_us\tmysql_us\tclient_us\tothers_cores\tload1\tbatches\trows\n"
	var b strings.Builder
	b.WriteString(head)
	for run, f := range []float64{1, 3, 2} {
		for _, k := range []string{"status (ticket)", "join", "status (no ticket)", "claim", "claim (seat)", "admission"} {
			b.WriteString(strings.Join([]string{itoa(run + 1), k, "1000", "0", "1", "1000",
				ftoa(10 * f), ftoa(5 * f), ftoa(2 * f), "-", "0", "1", "10", "250"}, "\t") + "\n")
		}
		// A seat phase that ran out of seats (mostly 409s) is left out.
		b.WriteString(strings.Join([]string{itoa(run + 1), "claim (seat)", "1000", "600", "1", "1000",
			"1", "1", "1", "-", "0", "1", "10", "250"}, "\t") + "\n")
		// 100 claims/s at 1,000 µs against the single drop's 20 µs: 0.098 cores fixed.
		b.WriteString(strings.Join([]string{itoa(run + 1), "claim (seat), 50 drops", "1000", "0", "10", "100",
			"1000", "5", "2", "-", "0", "1", "10", "100"}, "\t") + "\n")
	}
	write(t, filepath.Join(dir, "phases.tsv"), b.String())
	write(t, filepath.Join(dir, "idle.tsv"), "run\tkind\twall_s\tapp_cores\tredis_cores\tmysql_cores\tload1\n"+
		"1\tidle\t10\t0.1\t0.01\t0.02\t1\n2\tidle\t10\t0.3\t0.01\t0.02\t1\n3\tidle\t10\t0.2\t0.01\t0.02\t1\n")
	m, err := readMeasured(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.runs != 3 {
		t.Errorf("runs %d, want 3", m.runs)
	}
	if len(m.skipped) != 3 || m.kinds["claim (seat)"].app != 20 {
		t.Errorf("left out %q, seat claim app %.1f µs: want the three 409 phases out and 20 µs", m.skipped, m.kinds["claim (seat)"].app)
	}
	if c := m.kinds["join"]; c.app != 20 || c.redis != 10 || c.mysql != 4 || c.rowsPerBatch != 25 {
		t.Errorf("join medians %+v, want app 20, redis 10, mysql 4, 25 rows a batch", c)
	}
	if got := m.idle["idle"][0]; got != 0.2 {
		t.Errorf("idle app cores %.2f, want the median 0.2", got)
	}
	if math.Abs(m.seatListCores-0.098) > 1e-9 {
		t.Errorf("seat-list cores %.4f, want 0.098", m.seatListCores)
	}
	var out bytes.Buffer
	if err := printModel(dir, modelOpts{headroom: 0.6, instanceCores: 4, batchMax: 256}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sale 1:", "sale 2:", "25000 rows/s", "fewest shards whose fullest holds at most 5 drops"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("model output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReadMeasuredNeedsEveryKind(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "phases.tsv"), "run\tkind\trequests\tnon2xx\twall_s\treq_s\tapp_us\tredis_us\tmysql_us\tclient_us\tothers_cores\tload1\tbatches\trows\n"+
		"1\tjoin\t1\t0\t1\t1\t1\t1\t1\t-\t0\t1\t0\t0\n")
	write(t, filepath.Join(dir, "idle.tsv"), "run\tkind\twall_s\tapp_cores\tredis_cores\tmysql_cores\tload1\n")
	if _, err := readMeasured(dir); err == nil {
		t.Fatal("a phases.tsv without claims and polls was accepted")
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string     { return strconv.Itoa(i) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
