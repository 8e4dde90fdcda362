package system

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

const (
	adminToken = "system-test-admin-token"
	// mysqlAddr is the machine's MariaDB. Other packages use it at the same
	// time, so tests only ever create and drop a database of their own there,
	// and run a private redis-server rather than touch the shared one.
	mysqlAddr = "127.0.0.1:3306"
)

// binPath is the fastdeal binary TestMain builds once for every test.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fdsys-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "fastdeal")
	build := exec.Command("go", "build", "-o", binPath, "github.com/fastdeal/fastdeal/cmd/fastdeal")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build ./cmd/fastdeal:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort asks the kernel for a port nobody listens on. Another process may
// take it before ours binds; startServer retries on that.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// logBuf keeps the last part of a child process's output, so that a failure
// can show what the server said without holding an unbounded log in memory.
type logBuf struct {
	mu  sync.Mutex
	buf []byte
}

const logKeep = 512 << 10

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 2*logKeep {
		l.buf = append([]byte(nil), l.buf[len(l.buf)-logKeep:]...)
	}
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// tail returns the last n lines, each cut to a readable length.
func (l *logBuf) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, ln := range lines {
		if len(ln) > 600 {
			lines[i] = ln[:600] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

// errors returns up to n lines logged at error level or above, the first of
// each message only.
func (l *logBuf) errors(n int) string {
	var out []string
	seen := map[string]bool{}
	for _, ln := range strings.Split(l.String(), "\n") {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(ln), &e) != nil || (e.Level != "error" && e.Level != "dpanic" && e.Level != "panic" && e.Level != "fatal") {
			continue
		}
		if seen[e.Msg] {
			continue
		}
		seen[e.Msg] = true
		if len(ln) > 1500 {
			ln = ln[:1500] + "..."
		}
		out = append(out, ln)
		if len(out) == n {
			break
		}
	}
	return strings.Join(out, "\n")
}

// proc is a child process whose exit is observed by one goroutine, so that
// tests can both wait for it and ask whether it is still running.
type proc struct {
	name   string
	cmd    *exec.Cmd
	logs   *logBuf
	exited chan struct{}
	err    error // set before exited closes
}

func startProc(t testing.TB, name string, env []string, args ...string) (*proc, error) {
	t.Helper()
	p := &proc{name: name, logs: &logBuf{}, exited: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t testing.TB) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit 10s after SIGKILL", p.name)
	}
}

// terminate sends SIGTERM and waits up to limit for a graceful exit.
func (p *proc) terminate(t testing.TB, limit time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-p.exited:
		return time.Since(start), p.err
	case <-time.After(limit):
		return time.Since(start), fmt.Errorf("%s still running %s after SIGTERM", p.name, limit)
	}
}

// baseEnv is the test's environment without any FASTDEAL_ setting, so the
// developer's shell cannot change what a test runs.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FASTDEAL_") {
			env = append(env, kv)
		}
	}
	return env
}

// ---- MySQL ----------------------------------------------------------------

// database is a fresh, migrated MySQL database of its own, dropped at the end.
type database struct {
	name string
	db   *sql.DB
}

func (d *database) dsn(hostPort string) string {
	return fmt.Sprintf("root@tcp(%s)/%s?parseTime=true", hostPort, d.name)
}

func newDatabase(t testing.TB) *database {
	t.Helper()
	name := "fdsys_" + randomSuffix()
	admin, err := sql.Open("mysql", "root@tcp("+mysqlAddr+")/?parseTime=true")
	if err != nil {
		t.Fatalf("open MySQL: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("CREATE DATABASE %s on %s: %v", name, mysqlAddr, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	d := &database{name: name}
	mig := exec.Command(binPath, "migrate", "up")
	mig.Env = append(baseEnv(), "FASTDEAL_MYSQL_DSN="+d.dsn(mysqlAddr), "FASTDEAL_LOG_LEVEL=warn")
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("fastdeal migrate up: %v\n%s", err, out)
	}
	db, err := sql.Open("mysql", d.dsn(mysqlAddr))
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	d.db = db
	return d
}

// ledgerRow is one row of the issuances table, read straight from MySQL.
type ledgerRow struct {
	ID, DropID, UserID, Seat, Code string
	N                              int
	IssuedAt                       time.Time
}

// ledger reads a drop's issuances from MySQL in issue order.
func (d *database) ledger(t testing.TB, dropID string) []ledgerRow {
	t.Helper()
	rows, err := d.db.Query(`SELECT id, drop_id, user_id, COALESCE(seat, ''), n, code, issued_at
		FROM issuances WHERE drop_id = ? ORDER BY issued_at, id`, dropID)
	if err != nil {
		t.Fatalf("read issuances of %s from MySQL: %v", dropID, err)
	}
	defer rows.Close()
	var out []ledgerRow
	for rows.Next() {
		var r ledgerRow
		if err := rows.Scan(&r.ID, &r.DropID, &r.UserID, &r.Seat, &r.N, &r.Code, &r.IssuedAt); err != nil {
			t.Fatalf("scan issuance: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read issuances of %s: %v", dropID, err)
	}
	return out
}

// checkLedgerSound fails the test for anything the ledger must never hold:
// more units than stock, a buyer over the limit or twice in one slot, a seat
// sold twice, a seat that is not the drop's, a seat on a general drop.
func checkLedgerSound(t testing.TB, rows []ledgerRow, spec dropSpec) {
	t.Helper()
	if len(rows) > spec.capacity() {
		t.Errorf("drop %s: MySQL holds %d issuances for a stock of %d", spec.ID, len(rows), spec.capacity())
	}
	perUser := map[string]int{}
	slots := map[string]string{}
	seats := map[string]string{}
	known := map[string]bool{}
	for _, s := range spec.Seats {
		known[s] = true
	}
	for _, r := range rows {
		perUser[r.UserID]++
		slot := r.UserID + "#" + strconv.Itoa(r.N)
		if prev, dup := slots[slot]; dup {
			t.Errorf("drop %s: user %s holds slot n=%d twice (issuances %s and %s)", spec.ID, r.UserID, r.N, prev, r.ID)
		}
		slots[slot] = r.ID
		if r.N < 1 || r.N > spec.limit() {
			t.Errorf("drop %s: issuance %s has n=%d outside 1..%d", spec.ID, r.ID, r.N, spec.limit())
		}
		if spec.seated() {
			if prev, dup := seats[r.Seat]; dup {
				t.Errorf("drop %s: seat %q sold twice (issuances %s and %s)", spec.ID, r.Seat, prev, r.ID)
			}
			seats[r.Seat] = r.ID
			if !known[r.Seat] {
				t.Errorf("drop %s: issuance %s has seat %q the drop does not have", spec.ID, r.ID, r.Seat)
			}
		} else if r.Seat != "" {
			t.Errorf("drop %s: general issuance %s has seat %q", spec.ID, r.ID, r.Seat)
		}
	}
	for u, n := range perUser {
		if n > spec.limit() {
			t.Errorf("drop %s: user %s holds %d units, limit %d", spec.ID, u, n, spec.limit())
		}
	}
}

// checkAnsweredDurable fails for every 201 answer MySQL does not hold exactly
// as the buyer was told.
func checkAnsweredDurable(t testing.TB, rows []ledgerRow, answered []issuanceJSON) {
	t.Helper()
	byID := make(map[string]ledgerRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	missing := 0
	for _, a := range answered {
		r, ok := byID[a.ID]
		if !ok {
			missing++
			if missing <= 10 {
				t.Errorf("drop %s: issuance %s (user %s, seat %q) was answered 201 but is not in MySQL", a.DropID, a.ID, a.UserID, a.Seat)
			}
			continue
		}
		if r.UserID != a.UserID || r.Seat != a.Seat || r.Code != a.Code || r.DropID != a.DropID {
			t.Errorf("issuance %s: answered user=%s seat=%q code=%s drop=%s, MySQL has user=%s seat=%q code=%s drop=%s",
				a.ID, a.UserID, a.Seat, a.Code, a.DropID, r.UserID, r.Seat, r.Code, r.DropID)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d issuances answered 201 are missing from MySQL", missing, len(answered))
	}
}

// ---- Redis ----------------------------------------------------------------

// startRedis runs a private, non-persistent redis-server that dies with the test.
func startRedis(t testing.TB) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := startProc(t, "redis-server:"+strconv.Itoa(port), baseEnv(), "redis-server",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err != nil {
			t.Fatalf("%v (is redis-server installed?)", err)
		}
		deadline := time.Now().Add(30 * time.Second) // generous for a loaded machine
		for time.Now().Before(deadline) && p.running() {
			if reply, err := redisDo(addr, "PING"); err == nil && reply == "PONG" {
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.kill(t)
		if attempt < 2 && strings.Contains(p.logs.String(), "Address already in use") {
			continue
		}
		t.Fatalf("redis-server on %s did not answer PING within 30s:\n%s", addr, p.logs.tail(20))
	}
}

// redisDo sends one command and returns a simple, integer or bulk reply as a
// string; an error reply becomes an error. Enough for PING, FLUSHALL, DBSIZE.
func redisDo(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty redis reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return "", err
		}
		return string(data[:n]), nil
	}
	return "", fmt.Errorf("unexpected redis reply %q", line)
}

// ---- fastdeal serve ---------------------------------------------------------

// server is one `fastdeal serve` process.
type server struct {
	*proc
	url string
	env map[string]string
}

// serverEnv is the configuration every test starts from: loopback only, no
// admin listener, a known admin token, and a per-buyer rate high enough that
// load generators never meet 429.
func serverEnv(dsn, redisAddr, inventory string) map[string]string {
	env := map[string]string{
		"FASTDEAL_ADMIN_ADDR":       "off",
		"FASTDEAL_ADMIN_TOKEN":      adminToken,
		"FASTDEAL_MYSQL_DSN":        dsn,
		"FASTDEAL_INVENTORY":        inventory,
		"FASTDEAL_RATE_PER_USER":    "100000",
		"FASTDEAL_RATE_BURST":       "200000",
		"FASTDEAL_LOG_LEVEL":        "info",
		"FASTDEAL_INSTANCE_ID":      "sys-" + randomSuffix(),
		"FASTDEAL_STORE_TIMEOUT":    "2s",
		"FASTDEAL_SHUTDOWN_TIMEOUT": "10s",
	}
	if redisAddr != "" {
		env["FASTDEAL_REDIS_ADDR"] = redisAddr
	}
	return env
}

// startServer runs `fastdeal serve` with env on a free port and returns once
// /healthz answers.
func startServer(t testing.TB, name string, env map[string]string) *server {
	t.Helper()
	for attempt := 0; ; attempt++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		full := baseEnv()
		for k, v := range env {
			if k != "FASTDEAL_HTTP_ADDR" {
				full = append(full, k+"="+v)
			}
		}
		full = append(full, "FASTDEAL_HTTP_ADDR="+addr)
		p, err := startProc(t, name, full, binPath, "serve")
		if err != nil {
			t.Fatal(err)
		}
		s := &server{proc: p, url: "http://" + addr, env: env}
		t.Cleanup(func() {
			// The tail rarely reaches back to the first error, which is
			// the one that explains a failure.
			if t.Failed() {
				t.Logf("--- %s error lines ---\n%s", name, p.logs.errors(15))
			}
		})
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && p.running() {
			if r, err := s.get("/healthz"); err == nil && r.status == http.StatusOK {
				return s
			}
			time.Sleep(25 * time.Millisecond)
		}
		if p.running() {
			p.kill(t)
			t.Fatalf("%s did not answer /healthz within 30s; log tail:\n%s", name, p.logs.tail(40))
		}
		if attempt < 2 && strings.Contains(p.logs.String(), "address already in use") {
			continue
		}
		t.Fatalf("%s exited during start (%v); log tail:\n%s", name, p.err, p.logs.tail(40))
	}
}

// failf fails the test with the server's recent log appended, which is where
// the reason for a wrong answer usually is.
func (s *server) failf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\n--- %s log tail ---\n%s", fmt.Sprintf(format, args...), s.name, s.logs.tail(40))
}

func (s *server) errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Errorf("%s\n--- %s log tail ---\n%s", fmt.Sprintf(format, args...), s.name, s.logs.tail(40))
}

// httpClient keeps enough idle connections for every load worker, so a load
// generator measures the server rather than TCP handshakes.
var httpClient = &http.Client{
	Transport: &http.Transport{
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	},
	Timeout: 20 * time.Second,
}

type response struct {
	status int
	ctype  string
	body   []byte
	took   time.Duration
}

func (r response) String() string {
	return fmt.Sprintf("%d %s %s", r.status, r.ctype, bytes.TrimSpace(r.body))
}

func (r response) decode(v any) error { return json.Unmarshal(r.body, v) }

// problemCode is the code member of a problem+json body, "" for other bodies.
func (r response) problemCode() string {
	if !strings.HasPrefix(r.ctype, "application/problem+json") {
		return ""
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

// outcome is a short label of an answer, for counting: "201", "409 sold_out",
// "503 unavailable".
func (r response) outcome() string {
	if c := r.problemCode(); c != "" {
		return fmt.Sprintf("%d %s", r.status, c)
	}
	var s struct {
		Status string `json:"status"`
	}
	if r.status != http.StatusCreated && json.Unmarshal(r.body, &s) == nil && s.Status != "" {
		return fmt.Sprintf("%d %s", r.status, s.Status)
	}
	return strconv.Itoa(r.status)
}

func (s *server) call(method, path, user string, admin bool, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-User-ID", user)
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{took: time.Since(start)}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b, took: time.Since(start)}
	return r, err
}

func (s *server) get(path string) (response, error) {
	return s.call(http.MethodGet, path, "", false, nil)
}

// admin calls an admin route and fails the test unless it answers want.
func (s *server) admin(t testing.TB, method, path string, body any, want int) response {
	t.Helper()
	r, err := s.call(method, path, "", true, body)
	if err != nil {
		s.failf(t, "%s %s: %v", method, path, err)
	}
	if r.status != want {
		s.failf(t, "%s %s: want %d, got %s", method, path, want, r)
	}
	return r
}

// dropSpec describes a drop a test creates.
type dropSpec struct {
	ID        string
	Stock     int
	Seats     []string
	Limit     int
	Admission string
	AdmitRate int
}

func (d dropSpec) seated() bool { return len(d.Seats) > 0 }

func (d dropSpec) capacity() int {
	if d.seated() {
		return len(d.Seats)
	}
	return d.Stock
}

func (d dropSpec) limit() int { return max(d.Limit, 1) }

func seatLabels(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func (s *server) createDrop(t testing.TB, d dropSpec) {
	t.Helper()
	body := map[string]any{"id": d.ID, "name": "system " + d.ID, "per_user_limit": d.limit()}
	if d.seated() {
		body["kind"], body["seats"] = "seated", d.Seats
	} else {
		body["kind"], body["stock"] = "general", d.Stock
	}
	if d.Admission != "" {
		body["admission"], body["admit_rate"] = d.Admission, d.AdmitRate
	}
	s.admin(t, http.MethodPost, "/v1/admin/drops", body, http.StatusCreated)
}

type issuanceJSON struct {
	ID       string    `json:"id"`
	DropID   string    `json:"drop_id"`
	UserID   string    `json:"user_id"`
	Seat     string    `json:"seat"`
	Code     string    `json:"code"`
	IssuedAt time.Time `json:"issued_at"`
}

type claimAnswer struct {
	Status   string       `json:"status"`
	Issuance issuanceJSON `json:"issuance"`
}

func (s *server) claim(dropID, user, seat string) (response, error) {
	body := map[string]any{}
	if seat != "" {
		body["seat"] = seat
	}
	return s.call(http.MethodPost, "/v1/drops/"+dropID+"/claims", user, false, body)
}

type statsJSON struct {
	Issued         int64 `json:"issued"`
	Remaining      int64 `json:"remaining"`
	LineLength     int64 `json:"line_length"`
	Admitted       int64 `json:"admitted"`
	Persisted      int64 `json:"persisted"`
	PendingPersist int64 `json:"pending_persist"`
}

func (s *server) stats(t testing.TB, dropID string) statsJSON {
	t.Helper()
	var st statsJSON
	if err := s.admin(t, http.MethodGet, "/v1/admin/drops/"+dropID+"/stats", nil, http.StatusOK).decode(&st); err != nil {
		s.failf(t, "stats of %s: %v", dropID, err)
	}
	return st
}

type reconcileJSON struct {
	Repaired int      `json:"repaired"`
	Details  []string `json:"details"`
}

func (s *server) reconcile(t testing.TB, dropID string) reconcileJSON {
	t.Helper()
	var rep reconcileJSON
	if err := s.admin(t, http.MethodPost, "/v1/admin/drops/"+dropID+"/reconcile", nil, http.StatusOK).decode(&rep); err != nil {
		s.failf(t, "reconcile %s: %v", dropID, err)
	}
	return rep
}

func (s *server) issuances(t testing.TB, dropID string) []issuanceJSON {
	t.Helper()
	var out struct {
		Issuances []issuanceJSON `json:"issuances"`
	}
	if err := s.admin(t, http.MethodGet, "/v1/admin/drops/"+dropID+"/issuances", nil, http.StatusOK).decode(&out); err != nil {
		s.failf(t, "issuances of %s: %v", dropID, err)
	}
	return out.Issuances
}

// checkStatsAgree fails unless the live count (inventory) equals the durable
// one (MySQL) and both equal what MySQL holds when read directly.
func checkStatsAgree(t testing.TB, s *server, db *database, spec dropSpec) {
	t.Helper()
	st := s.stats(t, spec.ID)
	rows := len(db.ledger(t, spec.ID))
	if st.Issued != st.Persisted || st.Persisted != int64(rows) || st.Remaining != int64(spec.capacity()-rows) {
		s.errorf(t, "drop %s: stats issued=%d persisted=%d remaining=%d, MySQL holds %d of %d",
			spec.ID, st.Issued, st.Persisted, st.Remaining, rows, spec.capacity())
	}
}

// eventually polls cond every step until it is true or limit passes.
func eventually(limit, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
}
