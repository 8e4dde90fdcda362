package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

func TestIsUnavailable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"bad conn", fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{"invalid conn", gomysql.ErrInvalidConn, true},
		{"net op error", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"refused errno", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"refused text", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true},
		{"deadline while connecting", fmt.Errorf("connect: %w", context.DeadlineExceeded), true},
		{"conn done", sql.ErrConnDone, true},
		{"too many connections", &gomysql.MySQLError{Number: 1040}, true},
		{"read only after failover", &gomysql.MySQLError{Number: 1290}, true},
		{"lock wait timeout", &gomysql.MySQLError{Number: 1205}, true},
		{"duplicate key", &gomysql.MySQLError{Number: 1062}, false},
		{"syntax error", &gomysql.MySQLError{Number: 1064}, false},
		{"no rows", sql.ErrNoRows, false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := isUnavailable(c.err); got != c.want {
			t.Errorf("%s: isUnavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	err := translate(driver.ErrBadConn, inventory.ErrUnavailable)
	if !errors.Is(err, inventory.ErrUnavailable) || !errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("translate lost the sentinel or the cause: %v", err)
	}
	if err := translate(&gomysql.MySQLError{Number: 1062}, inventory.ErrUnavailable); errors.Is(err, inventory.ErrUnavailable) {
		t.Fatalf("a duplicate key became unavailable: %v", err)
	}
}

// A server that refuses connections must surface as each port's
// ErrUnavailable, quickly, from every adapter.
func TestErrorsWhenServerRefuses(t *testing.T) {
	needMySQL(t)
	p := newProxy(t)
	db := openVia(t, p)
	p.cut()
	ctx := ctxT(t)
	d := generalDrop(t, 3, 1)

	check := func(name string, err error, sentinel error) {
		t.Helper()
		if !errors.Is(err, sentinel) {
			t.Errorf("%s with the server gone = %v, want %v", name, err, sentinel)
		}
	}
	start := time.Now()
	_, err := NewDrops(db).Get(ctx, "x")
	check("Drops.Get", err, issuance.ErrUnavailable)
	check("Drops.Create", NewDrops(db).Create(ctx, d), issuance.ErrUnavailable)
	inv := NewInventory(db)
	check("Inventory.Load", inv.Load(ctx, d), inventory.ErrUnavailable)
	_, err = inv.Claim(ctx, inventory.Request{Issuance: candidate(d.ID(), uid("u"), ""), Limit: 1})
	check("Inventory.Claim", err, inventory.ErrUnavailable)
	_, err = inv.Remaining(ctx, d.ID())
	check("Inventory.Remaining", err, inventory.ErrUnavailable)
	l := NewLedger(db, LedgerOptions{Timeout: time.Second})
	defer l.Close(ctx)
	_, err = l.Get(ctx, "x")
	check("Ledger.Get", err, issuance.ErrUnavailable)
	check("Ledger.Record", l.Record(ctx, candidateN(d.ID(), uid("u"), "", 1)), issuance.ErrUnavailable)
	check("CheckMigrated", CheckMigrated(ctx, db), issuance.ErrUnavailable)
	// What this catches is waiting on a refused server (for ctxT's 60s), not
	// speed: the bound leaves a busy machine room for ten refused calls.
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("refused connections took %s to report", el)
	}
}

func TestErrorsFromServer(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	drops := NewDrops(db)
	d := generalDrop(t, 3, 1)
	if err := drops.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := drops.Create(ctx, d); !errors.Is(err, drop.ErrExists) {
		t.Fatalf("second Create = %v, want drop.ErrExists", err)
	}
	if _, err := drops.Get(ctx, uid("missing")); !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want drop.ErrNotFound", err)
	}
	l := NewLedger(db, LedgerOptions{Timeout: 30 * time.Second}) // about answers, not speed
	defer l.Close(ctx)
	if _, err := l.Get(ctx, uid("missing")); !errors.Is(err, issuance.ErrNotFound) {
		t.Fatalf("Ledger.Get(missing) = %v, want issuance.ErrNotFound", err)
	}
}
