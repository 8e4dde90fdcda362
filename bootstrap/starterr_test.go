package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fastdeal/fastdeal/test/testenv"
)

// captureOutput runs f with os.Stderr and the standard logger redirected and
// returns what was written there: the JSON logs, fx's events and any
// plain-text line a library prints.
func captureOutput(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	log.SetOutput(w)
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	defer func() {
		os.Stderr = stderr
		log.SetOutput(stderr)
	}()
	f()
	w.Close()
	return string(<-done)
}

// expectOneLine checks a start-up error: one line that names the setting and
// shows the value, with none of fx's or dig's internals.
func expectOneLine(t *testing.T, err error, setting, value string) {
	t.Helper()
	if err == nil {
		t.Fatal("started")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Fatalf("more than one line: %q", msg)
	}
	for _, internal := range []string{"could not build", "failed to build", "bootstrap.", ".go:", "received non-nil error"} {
		if strings.Contains(msg, internal) {
			t.Fatalf("the error shows fx internals (%q): %s", internal, msg)
		}
	}
	if !strings.HasPrefix(msg, setting+"=") || !strings.Contains(msg, value) {
		t.Fatalf("error %q does not start with %s= and show %q", msg, setting, value)
	}
	if len(msg) > 400 {
		t.Fatalf("%d bytes for one problem: %s", len(msg), msg)
	}
}

func startErr(t *testing.T, cfg Config) (error, string) {
	t.Helper()
	cfg.LogLevel = "info"
	var err error
	out := captureOutput(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var e *Embedded
		if e, err = StartEmbedded(ctx, cfg); err == nil {
			_ = e.Stop(ctx)
		}
	})
	return err, out
}

// A comma list in FASTDEAL_REDIS_ADDR names Redis Cluster seed nodes: it is
// accepted, and selects cluster mode; what is not a list of host:port is
// refused in one line naming the setting.
func TestRedisAddrList(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_REDIS_ADDR", "127.0.0.1:7001, 127.0.0.1:7002")
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatalf("a comma list was refused: %v", err)
	}
	if got := cfg.redisClusterAddrs(); !slices.Equal(got, []string{"127.0.0.1:7001", "127.0.0.1:7002"}) {
		t.Fatalf("cluster seeds = %v", got)
	}
	if cfg.Inventory != StrategyRedis {
		t.Fatalf("inventory = %q, want redis", cfg.Inventory)
	}
	for _, bad := range []string{"127.0.0.1:7001,nohost", "127.0.0.1:7001 127.0.0.1:7002", ","} {
		t.Setenv("FASTDEAL_REDIS_ADDR", bad)
		_, err := LoadConfig()
		expectOneLine(t, err, "FASTDEAL_REDIS_ADDR", fmt.Sprintf("%q", bad))
		var se *SettingError
		if !errors.As(err, &se) || se.Name != "FASTDEAL_REDIS_ADDR" {
			t.Fatalf("%q: not a SettingError: %#v", bad, err)
		}
	}
}

// FASTDEAL_REDIS_CLUSTER=true makes one address a cluster seed and wins over
// the Sentinel settings; without an address it is refused.
func TestRedisClusterSetting(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_REDIS_CLUSTER", "true")
	t.Setenv("FASTDEAL_REDIS_ADDR", "127.0.0.1:7001")
	t.Setenv("FASTDEAL_REDIS_MASTER", "fastdeal")
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.redisClusterAddrs(); !slices.Equal(got, []string{"127.0.0.1:7001"}) || cfg.redisSentinel() {
		t.Fatalf("cluster seeds = %v, sentinel %v", got, cfg.redisSentinel())
	}
	t.Setenv("FASTDEAL_REDIS_ADDR", "")
	_, err = LoadConfig()
	expectOneLine(t, err, "FASTDEAL_REDIS_ADDR", "FASTDEAL_REDIS_CLUSTER=true")

	// Without it, one address is left to detection and a master name keeps
	// Sentinel mode.
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_REDIS_ADDR", "127.0.0.1:7001,127.0.0.1:7002")
	t.Setenv("FASTDEAL_REDIS_MASTER", "fastdeal")
	t.Setenv("FASTDEAL_REDIS_SENTINELS", "127.0.0.1:26379")
	if cfg, err = LoadConfig(); err != nil || cfg.redisClusterAddrs() != nil || !cfg.redisSentinel() {
		t.Fatalf("sentinel settings: seeds %v, sentinel %v, err %v", cfg.redisClusterAddrs(), cfg.redisSentinel(), err)
	}
}

// A standalone Redis given as a cluster fails start-up in one line.
func TestRedisClusterThatIsNotOneIsOneLine(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	cfg := mustEmbedded(t)
	cfg.RedisAddr, cfg.RedisCluster, cfg.Inventory = testenv.RedisAddr(), true, StrategyRedis
	err, _ := startErr(t, cfg)
	expectOneLine(t, err, "FASTDEAL_REDIS_ADDR", "not a Redis Cluster")
}

// A Redis that does not answer fails start-up once, with one line; fx's
// own report of the failure stays at debug.
func TestRedisDownIsOneLine(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a port nobody listens on
	cfg := mustEmbedded(t)
	cfg.RedisAddr, cfg.Inventory = addr, StrategyRedis
	err, out := startErr(t, cfg)
	expectOneLine(t, err, "FASTDEAL_REDIS_ADDR", addr)
	if strings.Contains(out, "refused") || strings.Contains(out, `"level":"error"`) {
		t.Fatalf("the failure was also logged:\n%s", out)
	}
}

// A wrong MySQL password is reported once, as one line with the password
// masked; no library prints it again, in JSON or in plain text.
func TestWrongMySQLPasswordIsOneMaskedLine(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	const password = "s3cr3t-Passw0rd"
	dsn := "root:" + password + "@tcp(127.0.0.1:3306)/test?parseTime=true"
	cfg := mustEmbedded(t)
	cfg.MySQLDSN, cfg.Inventory = dsn, StrategyMySQL
	err, out := startErr(t, cfg)
	expectOneLine(t, err, "FASTDEAL_MYSQL_DSN", "root:***@tcp(127.0.0.1:3306)/test")
	if !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("the error does not say what is wrong: %v", err)
	}
	if strings.Contains(err.Error()+out, password) {
		t.Fatalf("the password shows:\n%v\n%s", err, out)
	}
	if strings.Contains(out, "Access denied") || strings.Contains(out, `"level":"error"`) {
		t.Fatalf("the failure was also logged:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "{") {
			t.Fatalf("a plain-text line among the JSON logs: %q", line)
		}
	}
}

func TestMigrateMasksThePassword(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	cfg := mustEmbedded(t)
	cfg.MySQLDSN = "root:hunter2@tcp(127.0.0.1:3306)/test"
	_, err := Migrate(context.Background(), cfg, "status")
	expectOneLine(t, err, "FASTDEAL_MYSQL_DSN", "root:***@")
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatal(err)
	}
}

func TestUnparseableSettingsNameTheVariable(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_STORE_TIMEOUT", "soon")
	t.Setenv("FASTDEAL_BODY_LIMIT", "big")
	_, err := LoadConfig()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per problem, got %q", err)
	}
	for _, want := range []string{`FASTDEAL_STORE_TIMEOUT="soon": is not a valid duration`, `FASTDEAL_BODY_LIMIT="big": is not a valid integer`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestMaskDSN(t *testing.T) {
	for in, want := range map[string]string{
		"root:pw@tcp(db:3306)/fastdeal?parseTime=true": "root:***@tcp(db:3306)/fastdeal?parseTime=true",
		"root:p@ss:w@rd@tcp(db:3306)/fastdeal":         "root:***@tcp(db:3306)/fastdeal",
		"root@tcp(db:3306)/fastdeal":                   "root@tcp(db:3306)/fastdeal",
		"app:secret@/fastdeal":                         "app:***@/fastdeal",
		"app:secret@unix(/run/mysqld/mysqld.sock)/fd":  "app:***@unix(/run/mysqld/mysqld.sock)/fd",
		"not a dsn:secret@somewhere":                   "not a dsn:***@somewhere",
		"":                                             "",
	} {
		if got := MaskDSN(in); got != want {
			t.Errorf("MaskDSN(%q) = %q, want %q", in, got, want)
		}
	}
	if got := maskSecret("FASTDEAL_ADMIN_TOKEN", "tok"); got != "***" {
		t.Errorf("token shown: %q", got)
	}
	if got := maskSecret("FASTDEAL_X_URL", "redis://u:pw@h:6379/0"); got != "redis://u:***@h:6379/0" {
		t.Errorf("URL: %q", got)
	}
}

// startAdmin starts the application with the admin listener on a free port.
func startAdmin(t *testing.T) (*fx.App, string) {
	t.Helper()
	testenv.ClearFastdealEnv(t)
	cfg := mustEmbedded(t)
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	var ep *AdminEndpoint
	app, err := newApp(cfg, fx.Populate(&ep))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ep.Addr == "" {
		t.Fatal("admin listener not started")
	}
	return app, ep.Addr
}

// setAdminTimeouts shortens the admin listener's bounds for one test.
func setAdminTimeouts(t *testing.T, readHeader, idle, grace time.Duration) {
	old := [3]time.Duration{adminReadHeaderTimeout, adminIdleTimeout, adminShutdownGrace}
	adminReadHeaderTimeout, adminIdleTimeout, adminShutdownGrace = readHeader, idle, grace
	t.Cleanup(func() { adminReadHeaderTimeout, adminIdleTimeout, adminShutdownGrace = old[0], old[1], old[2] })
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(t *testing.T, conn net.Conn, br *bufio.Reader, d time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if err == nil {
		t.Fatal("the server sent bytes nobody asked for")
	}
	return true
}

// The admin listener closes an idle keep-alive connection after its idle
// timeout instead of holding it for ever.
func TestAdminListenerClosesIdleConnections(t *testing.T) {
	setAdminTimeouts(t, time.Minute, 300*time.Millisecond, 2*time.Second)
	app, addr := startAdmin(t)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte("fastdeal_")) {
		t.Fatalf("metrics: %d %.200s", res.StatusCode, body)
	}
	// Generous: the point is that it closes at all, not how soon.
	if !closedWithin(t, conn, br, 20*time.Second) {
		t.Fatal("an idle keep-alive connection stayed open")
	}
}

// Stop closes the admin listener's connections, even one in the middle of
// sending a request, within the grace period rather than the whole stop budget.
func TestAdminListenerClosesOnStop(t *testing.T) {
	setAdminTimeouts(t, time.Minute, time.Minute, 200*time.Millisecond)
	app, addr := startAdmin(t)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := io.WriteString(busy, "GET /metrics HTTP/1.1\r\nHost: admin\r\n"); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has read the partial request, so the connection
	// counts as active: ask something else on a third connection first.
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(third, "GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
	_, _ = io.Copy(io.Discard, third)
	third.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stop took %v", d)
	}
	for name, c := range map[string]net.Conn{"idle": idle, "busy": busy} {
		if !closedWithin(t, c, bufio.NewReader(c), 10*time.Second) {
			t.Fatalf("the %s connection is still open after stop", name)
		}
	}
}
