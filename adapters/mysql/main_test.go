package mysql

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/test/testenv"
)

const defaultTestDSN = "root@tcp(127.0.0.1:3306)/test?parseTime=true"

func testDSN() string {
	if dsn := os.Getenv("FASTDEAL_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return defaultTestDSN
}

var shared struct {
	once sync.Once
	db   *bun.DB
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.db != nil {
		_ = shared.db.Close()
	}
	if code == 0 {
		if err := testenv.FindLeaks(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needMySQL skips only when the developer opted out explicitly; an
// unreachable server is a failure, so CI cannot go green without MariaDB.
func needMySQL(t testing.TB) {
	t.Helper()
	if os.Getenv("FASTDEAL_TEST_MYSQL_DSN") == "off" {
		t.Skip("FASTDEAL_TEST_MYSQL_DSN=off: MySQL integration tests disabled on purpose")
	}
}

// testDB returns the package's shared, migrated database.
func testDB(t testing.TB) *bun.DB {
	t.Helper()
	needMySQL(t)
	shared.once.Do(func() {
		db, err := Open(testDSN(), PoolOptions{})
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			shared.err = err
			return
		}
		if _, err := MigrateUp(ctx, db); err != nil {
			_ = db.Close()
			shared.err = err
			return
		}
		shared.db = db
	})
	if shared.err != nil {
		t.Fatalf("MariaDB at %q is not usable: %v\n(start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`, "+
			"point FASTDEAL_TEST_MYSQL_DSN at another server, or set it to \"off\" to disable these tests)", testDSN(), shared.err)
	}
	return shared.db
}

// uid returns an id no other test run has used, so tests share tables
// without truncating them.
func uid(prefix string) string {
	return prefix + "-" + clock.RandomIDs{}.NewID()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dsnVia returns the test DSN with its address replaced, and optionally its
// database.
func dsnVia(t testing.TB, addr, dbName string) string {
	t.Helper()
	cfg, err := gomysql.ParseDSN(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		cfg.Addr = addr
	}
	if dbName != "" {
		cfg.DBName = dbName
	}
	return cfg.FormatDSN()
}

// proxy forwards TCP to MariaDB and can cut the link, so tests see a real
// server vanish and come back without touching the server others use.
type proxy struct {
	t      testing.TB
	addr   string
	target string

	mu        sync.Mutex
	ln        net.Listener
	conns     map[net.Conn]struct{}
	blackhole bool
	wg        sync.WaitGroup
}

func newProxy(t testing.TB) *proxy {
	t.Helper()
	cfg, err := gomysql.ParseDSN(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: cfg.Addr, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = struct{}{}
			hole := p.blackhole
			p.mu.Unlock()
			if hole {
				continue // accepted, never answered: a server that hangs
			}
			up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[up] = struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: new connects are refused.
func (p *proxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
}

// hang keeps accepting but never forwards, after dropping live links.
func (p *proxy) hang() {
	p.cut()
	p.mu.Lock()
	p.blackhole = true
	p.mu.Unlock()
	p.listen()
}

// restore forwards again on the same address.
func (p *proxy) restore() {
	p.cut()
	p.mu.Lock()
	p.blackhole = false
	p.mu.Unlock()
	p.listen()
}

func (p *proxy) listen() {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("proxy: relisten on %s: %v", p.addr, err)
}

func (p *proxy) close() {
	p.cut()
	p.wg.Wait()
}

// openVia opens a pool through the proxy with short timeouts, so failure
// tests run in a second, not in the production defaults' ten.
func openVia(t testing.TB, p *proxy) *bun.DB {
	t.Helper()
	db, err := Open(dsnVia(t, p.addr, ""), PoolOptions{DialTimeout: 300 * time.Millisecond, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
