package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// floodState is what line-flood learned about places in line.
type floodState struct {
	mu        sync.Mutex
	joined    []int
	positions []int64
	byPos     map[int64]int
	dupPos    int
	firstDup  string
	reads     int64
	notWait   int
	firstNot  string
	posUp     int
	firstUp   string
	joinErrs  int64
	joinFirst string
	// tickets holds the join answer's line ticket of every user whose index
	// is a multiple of ticketEvery, so the position reads present it as a
	// waiting buyer would (answered from the server's line snapshot).
	tickets     map[int]string
	ticketEvery int
}

// lineFloodRun: joins as fast as the server answers (a closed loop with
// --concurrency workers) into a paused queued drop, so every joiner stays
// waiting; then reads a sample of positions back.
func (r *runner) lineFloodRun(ctx context.Context) error {
	cfg := r.cfg
	if err := r.createDrop(createDrop{Kind: "general", Stock: cfg.Stock, Admission: "queued", AdmitRate: 1}); err != nil {
		return err
	}
	// Paused before anyone joins: nobody is admitted, so positions are stable.
	if err := r.c.admin(http.MethodPatch, "/v1/admin/drops/"+r.drop.ID, map[string]any{"paused": true}, nil); err != nil {
		return fmt.Errorf("pause drop: %w", err)
	}
	linePath := "/v1/drops/" + r.drop.ID + "/line"
	lf := &LineFloodReport{}
	r.lineFlood = lf
	st := &floodState{positions: make([]int64, cfg.Users), byPos: map[int64]int{},
		tickets: map[int]string{}, ticketEvery: max(cfg.Users/max(cfg.Sample, 1), 1)}
	r.flood = st
	r.sale = newSale(cfg.Users, 0)
	r.sale.joins = make([]joinRec, cfg.Users)
	r.sale.lastPos = make([]uint32, cfg.Users)

	rssBefore, rssSrc := r.serverRSS()
	redisBefore, redisErr := redisUsedMemory(r.cfg.RedisAddr)

	r.start = time.Now()
	r.rec = newRecorder(r.start, r.sc.duration, EndpointJoin, EndpointLineStatus)
	joinEP, statusEP := r.rec.endpoint(EndpointJoin), r.rec.endpoint(EndpointLineStatus)
	stop := r.progress(int64(cfg.Users), joinEP.total, nil)
	floodCtx, cancel := context.WithTimeout(ctx, r.sc.duration)
	var nextUser atomic.Int64
	r.workers(floodCtx, func() bool {
		u := int(nextUser.Add(1) - 1)
		if u >= cfg.Users {
			return false
		}
		now := time.Now()
		r.sale.joinSent(u, now)
		r.call(joinEP, now, http.MethodPost, linePath, r.hs[u], nil, header{}, func(rep reply, ended time.Time) {
			if rep.kind != errNone || classOf(rep.status) != class2xx {
				st.mu.Lock()
				st.joinErrs++
				if st.joinFirst == "" {
					st.joinFirst = fmt.Sprintf("user %s: status %d %s %s", userID(u), rep.status, rep.kind, snippet(rep.body))
				}
				st.mu.Unlock()
				return
			}
			a, ok := r.sale.decode(u, rep.body)
			if !ok {
				return
			}
			r.sale.joinAnswered(u, a, ended)
			st.mu.Lock()
			st.joined = append(st.joined, u)
			st.positions[u] = a.Position
			if a.Ticket != "" && u%st.ticketEvery == 0 {
				st.tickets[u] = a.Ticket
			}
			if prev, dup := st.byPos[a.Position]; dup && a.Position > 0 {
				st.dupPos++
				if st.firstDup == "" {
					st.firstDup = fmt.Sprintf("users %s and %s were both given position %d", userID(prev), userID(u), a.Position)
				}
			} else {
				st.byPos[a.Position] = u
			}
			st.mu.Unlock()
		})
		return true
	})
	cancel()
	floodEnd := time.Now()
	stop()

	rssAfter, _ := r.serverRSS()
	redisAfter, _ := redisUsedMemory(r.cfg.RedisAddr)
	lf.Joined = int64(len(st.joined))
	lf.JoinsPerSecond = rate(lf.Joined, floodEnd.Sub(r.start))
	if rssSrc != "" {
		lf.RSSSource, lf.ServerRSSBefore, lf.ServerRSSAfter = rssSrc, rssBefore, rssAfter
		if lf.Joined > 0 {
			lf.RSSPerUser = float64(rssAfter-rssBefore) / float64(lf.Joined)
		}
	}
	switch {
	case r.cfg.RedisAddr == "":
		lf.MemoryNotMeasure = "Redis memory not measured: no --redis-addr"
	case redisErr != nil:
		lf.MemoryNotMeasure = "Redis memory not measured: " + redisErr.Error()
	default:
		lf.RedisBefore, lf.RedisAfter = redisBefore, redisAfter
		if lf.Joined > 0 {
			lf.RedisPerUser = float64(redisAfter-redisBefore) / float64(lf.Joined)
		}
	}

	// Read back an evenly spread sample of the users who got a place: those
	// whose ticket was kept, with it, as a waiting buyer polls.
	var sample []int
	for _, u := range st.joined {
		if _, ok := st.tickets[u]; ok {
			sample = append(sample, u)
		}
	}
	if len(sample) == 0 {
		sample = sampleOf(st.joined, cfg.Sample)
	}
	lf.PositionReadsWithTicket = len(st.tickets) > 0
	var idx atomic.Int64
	readCtx, cancelRead := context.WithTimeout(ctx, r.deadline())
	defer cancelRead()
	r.workers(readCtx, func() bool {
		i := int(idx.Add(1) - 1)
		if i >= len(sample) {
			return false
		}
		u := sample[i]
		var extra header
		if tk := st.tickets[u]; tk != "" {
			extra = header{ticketHeader, tk}
		}
		r.call(statusEP, time.Now(), http.MethodGet, linePath+"/me", r.hs[u], nil, extra, func(rep reply, _ time.Time) {
			if rep.kind != errNone || rep.status != http.StatusOK {
				return
			}
			a, ok := r.sale.decode(u, rep.body)
			if !ok {
				return
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			st.reads++
			switch {
			case a.Status != "waiting":
				st.notWait++
				if st.firstNot == "" {
					st.firstNot = fmt.Sprintf("user %s is %q in a paused line", userID(u), a.Status)
				}
			case a.Position > st.positions[u]:
				st.posUp++
				if st.firstUp == "" {
					st.firstUp = fmt.Sprintf("user %s joined at position %d, now %d", userID(u), st.positions[u], a.Position)
				}
			}
		})
		return true
	})
	status := statusEP.summary()
	lf.PositionReads = status.Count
	lf.PositionP50Ms, lf.PositionP99Ms = status.Latency.P50Ms, status.Latency.P99Ms
	total := joinEP.total()
	r.schedule = ScheduleReport{Planned: int(total), Started: total + status.Count}
	return nil
}

// workers runs step on --concurrency goroutines until it returns false or ctx ends.
func (r *runner) workers(ctx context.Context, step func() bool) {
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && step() {
			}
		}()
	}
	wg.Wait()
}

// sampleOf picks up to n users spread evenly over the join order.
func sampleOf(users []int, n int) []int {
	if len(users) <= n {
		return users
	}
	out := make([]int, n)
	for i := range out {
		out[i] = users[i*len(users)/n]
	}
	return out
}

// serverRSS reads the server's resident memory from its Prometheus metrics at
// --metrics-url (its private admin listener: the API listener serves none by
// default), or, for a server in this process, from /proc/self (which then
// includes the client).
func (r *runner) serverRSS() (int64, string) {
	if url := r.cfg.MetricsURL; url != "" {
		g := gauges{http: &http.Client{Timeout: 10 * time.Second}}
		if rss, err := g.scrape(url); err == nil {
			return rss, "metrics"
		}
	}
	if r.cfg.InProcess {
		if v, err := procRSS(); err == nil {
			return v, "/proc/self (server and client)"
		}
	}
	return 0, ""
}

// promValue finds an unlabelled sample in Prometheus text; -1 when absent.
func promValue(body []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			return int64(f)
		}
	}
	return -1
}

func procRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// redisUsedMemory asks Redis for used_memory with one INFO command in RESP; a
// whole client library would be more than a single read needs.
func redisUsedMemory(addr string) (int64, error) {
	if addr == "" {
		return 0, nil
	}
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, "*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n"); err != nil {
		return 0, err
	}
	br := bufio.NewReader(conn)
	head, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(head, "$") {
		return 0, fmt.Errorf("redis INFO: unexpected reply %q", strings.TrimSpace(head))
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("redis INFO: bad length %q", strings.TrimSpace(head))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("redis INFO: no used_memory")
}
