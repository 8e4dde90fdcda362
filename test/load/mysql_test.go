package load

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// testMySQL makes a throwaway database with an issuances table on the local
// MariaDB (FASTDEAL_TEST_MYSQL_DSN, as the contract suites use) and returns its
// DSN. An unreachable server fails the test; only "off" skips it, on purpose.
func testMySQL(t *testing.T) (dsn string, db *sql.DB) {
	t.Helper()
	base := os.Getenv("FASTDEAL_TEST_MYSQL_DSN")
	if base == "off" {
		t.Skip("FASTDEAL_TEST_MYSQL_DSN=off: MySQL audit test disabled on purpose")
	}
	if base == "" {
		base = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("FASTDEAL_TEST_MYSQL_DSN: %v", err)
	}
	name := fmt.Sprintf("fastdeal_load_%d_%d", os.Getpid(), rand.IntN(1e9))
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("MariaDB at %q: %v (start it, point FASTDEAL_TEST_MYSQL_DSN elsewhere, or set it to \"off\")", base, err)
	}
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP DATABASE "+name) })
	cfg.DBName = name
	dsn = cfg.FormatDSN()
	db, err = sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, `CREATE TABLE issuances (
		id VARCHAR(64) PRIMARY KEY, drop_id VARCHAR(64) NOT NULL, user_id VARCHAR(64) NOT NULL,
		seat VARCHAR(32) NULL, n INT NOT NULL DEFAULT 1, code VARCHAR(64) NOT NULL,
		issued_at DATETIME(6) NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return dsn, db
}

// TestAuditReadsMySQL runs concert-spike against a fake that records each
// issuance in MySQL, then plants a lost row: the audit must name it.
func TestAuditReadsMySQL(t *testing.T) {
	dsn, db := testMySQL(t)
	f, srv := newFake(t)
	f.onIssue = func(is apiIssuance) {
		_, err := db.Exec("INSERT INTO issuances (id, drop_id, user_id, seat, code, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
			is.ID, is.DropID, is.UserID, is.Seat, is.Code, is.IssuedAt)
		if err != nil {
			t.Errorf("insert: %v", err)
		}
	}
	cfg := smallConcert(srv.URL)
	cfg.MySQLDSN = dsn
	rep, err := Run(runCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run with MySQL: %v", err)
	}
	if !strings.Contains(fmt.Sprint(rep.Audit.Checks), "mysql: every issued answer present") {
		t.Fatalf("no MySQL checks in the audit: %v", rep.Audit.Checks)
	}

	// A second sale whose first row never reached MySQL.
	f.onIssue = func(is apiIssuance) {
		if strings.HasSuffix(is.ID, "-i1") {
			return
		}
		_, _ = db.Exec("INSERT INTO issuances (id, drop_id, user_id, seat, code, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
			is.ID, is.DropID, is.UserID, is.Seat, is.Code, is.IssuedAt)
	}
	_, err = Run(runCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "mysql: every issued answer present: 40 issuances told to clients, 1 missing") ||
		!strings.Contains(err.Error(), "mysql has 39 rows for the drop, the server lists 40") {
		t.Fatalf("want the lost MySQL row named, got %v", err)
	}
}

func TestReadMySQLFailsClearly(t *testing.T) {
	_, err := readMySQL(context.Background(), "root@tcp(127.0.0.1:1)/nope?timeout=1s", "d1")
	if err == nil || !strings.Contains(err.Error(), "read issuances of drop d1") {
		t.Fatalf("want a clear error, got %v", err)
	}
}

// TestPrequeueOrderFromMySQL: with a DSN, the line checks judge MySQL's order.
// The fake shuffles its pre-queue correctly, but the rows it writes carry
// issued_at in user (so arrival) order: MySQL then says the pre-queue was
// served first come, first served, and the shuffle check must believe it.
func TestPrequeueOrderFromMySQL(t *testing.T) {
	dsn, db := testMySQL(t)
	f, srv := newFake(t)
	base := time.Now().UTC().Truncate(time.Second)
	f.onIssue = func(is apiIssuance) {
		u, _ := strconv.Atoi(strings.TrimPrefix(is.UserID, "u"))
		_, err := db.Exec("INSERT INTO issuances (id, drop_id, user_id, seat, code, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
			is.ID, is.DropID, is.UserID, is.Seat, is.Code, base.Add(time.Duration(u)*time.Millisecond))
		if err != nil {
			t.Errorf("insert: %v", err)
		}
	}
	cfg := prequeueCoupon(srv.URL)
	cfg.MySQLDSN = dsn
	rep, err := Run(runCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "pre-queue shuffled at opening") || !strings.Contains(err.Error(), "close to arrival order") {
		t.Fatalf("want the shuffle check failed on MySQL's order, got %v", err)
	}
	if rep.CouponRush.PrequeueRankCorrelation == nil || *rep.CouponRush.PrequeueRankCorrelation < 0.9 {
		t.Fatalf("rank correlation %v, want near 1", rep.CouponRush.PrequeueRankCorrelation)
	}
}
