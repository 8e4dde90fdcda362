package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// benchLine matches a result line of bench_test.go: its name (without the
// -GOMAXPROCS suffix) and its req/s.
var benchLine = regexp.MustCompile(`^(Benchmark\w+?)(?:-\d+)?\s+\d+\s.*?\s([\d.]+) req/s`)

// ratioPairs are the design's targets, fastdeal's case over its bare twin.
var ratioPairs = []struct{ name, num, den string }{
	{"join / bare Lua join", "BenchmarkJoin", "BenchmarkBareLuaJoin"},
	{"ticketed status / bare hello", "BenchmarkTicketedStatus", "BenchmarkBareHello"},
	{"ticketed status / bare hello, same requests", "BenchmarkTicketedStatus", "BenchmarkBareHelloSameRequests"},
}

// printRatios reads `go test -bench` output of bench_test.go (several runs
// appended) and prints each run's ratios and their medians: the k-th result
// of each benchmark is run k.
func printRatios(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rates := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return err
		}
		rates[m[1]] = append(rates[m[1]], v)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, p := range ratioPairs {
		num, den := rates[p.num], rates[p.den]
		n := min(len(num), len(den))
		if n == 0 {
			return fmt.Errorf("%s: no results for %s and %s in %s", p.name, p.num, p.den, path)
		}
		var rs []float64
		for i := range n {
			r := num[i] / den[i]
			rs = append(rs, r)
			fmt.Fprintf(w, "run %d  %-44s %9.0f / %9.0f req/s = %.2f\n", i+1, p.name, num[i], den[i], r)
		}
		fmt.Fprintf(w, "median of %d  %-44s %.2fx (target 0.80x)\n", n, p.name, median(rs))
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
