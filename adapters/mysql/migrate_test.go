package mysql

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/issuance"
)

// freshDatabase creates an empty database for the test and drops it after,
// so rolling back never removes tables other tests are using.
func freshDatabase(t *testing.T) string {
	t.Helper()
	root := testDB(t)
	name := strings.ReplaceAll(strings.ToLower(uid("fastdeal_mt")), "-", "_")
	ctx := ctxT(t)
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := root.ExecContext(ctxT(t), "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// migrations is how many embedded migrations there are.
const migrations = 5

func TestMigrateUpDownUp(t *testing.T) {
	name := freshDatabase(t)
	db, err := Open(dsnVia(t, "", name), PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := ctxT(t)
	tables := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?
			AND table_name IN ('drops','issuances','inventory_stock','inventory_seats','inventory_users','inventory_holds')`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := CheckMigrated(ctx, db); !errors.Is(err, ErrNotMigrated) || !strings.Contains(err.Error(), "fastdeal migrate up") {
		t.Fatalf("CheckMigrated on an empty database = %v, want ErrNotMigrated naming `fastdeal migrate up`", err)
	}

	// Replicas starting together migrate at once; each migration runs once.
	var wg sync.WaitGroup
	applied := make([][]string, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = MigrateUp(ctx, db)
		}()
	}
	wg.Wait()
	total := 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("MigrateUp #%d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if total != migrations {
		t.Fatalf("concurrent MigrateUp applied %d migrations in all, want %d: %v", total, migrations, applied)
	}
	if n := tables(); n != 6 {
		t.Fatalf("after up: %d of 6 tables", n)
	}
	if err := CheckMigrated(ctx, db); err != nil {
		t.Fatalf("CheckMigrated after up: %v", err)
	}
	status, err := MigrationStatus(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != migrations {
		t.Fatalf("status lines = %q", status)
	}
	for _, l := range status {
		if !strings.Contains(l, "applied") {
			t.Fatalf("status line %q, want applied", l)
		}
	}
	if again, err := MigrateUp(ctx, db); err != nil || len(again) != 0 {
		t.Fatalf("second MigrateUp = %v, %v; want nothing to do", again, err)
	}

	down, err := Migrate(ctx, db, "down")
	if err != nil || len(down) != migrations || !strings.Contains(down[0], "20261126000005_issuance_indexes") {
		t.Fatalf("down = %q, %v; want %d migrations, newest first", down, err, migrations)
	}
	if n := tables(); n != 0 {
		t.Fatalf("after down: %d tables left", n)
	}
	err = CheckMigrated(ctx, db)
	if !errors.Is(err, ErrNotMigrated) || !strings.Contains(err.Error(), "20260301000001_drops") {
		t.Fatalf("CheckMigrated after down = %v, want pending migrations named", err)
	}
	status, err = Migrate(ctx, db, "status")
	if err != nil || len(status) != migrations || !strings.Contains(status[0], "pending") {
		t.Fatalf("status after down = %q, %v", status, err)
	}

	if up, err := Migrate(ctx, db, "up"); err != nil || len(up) != migrations {
		t.Fatalf("up again = %q, %v", up, err)
	}
	if n := tables(); n != 6 {
		t.Fatalf("after up again: %d of 6 tables", n)
	}
	if _, err := Migrate(ctx, db, "sideways"); err == nil {
		t.Fatal("Migrate accepted an unknown direction")
	}
}

func TestCheckMigratedUnreachable(t *testing.T) {
	needMySQL(t)
	p := newProxy(t)
	db := openVia(t, p)
	p.cut()
	start := time.Now()
	err := CheckMigrated(ctxT(t), db)
	if err == nil || errors.Is(err, ErrNotMigrated) {
		t.Fatalf("CheckMigrated with the server gone = %v, want a connection error, not a schema verdict", err)
	}
	// A hang would last until ctxT's 60s; the bound is for that, not speed.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s to notice the server is gone", d)
	}
}

// withoutMigration returns a fresh database with every migration applied
// but file (such as "20260301000004_drop_waiting"), which its own down script
// then undid: the schema a rolling deploy finds before it applies file. The
// tests that start here also prove that the down script undoes exactly what
// the up script did.
func withoutMigration(t *testing.T, file string) (*bun.DB, context.Context) {
	t.Helper()
	db, err := Open(dsnVia(t, "", freshDatabase(t)), PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := ctxT(t)
	if _, err := MigrateUp(ctx, db); err != nil {
		t.Fatal(err)
	}
	down, err := migrationFiles.ReadFile("migrations/" + file + ".down.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, string(down)); err != nil {
		t.Fatalf("%s down script: %v", file, err)
	}
	version, _, _ := strings.Cut(file, "_")
	if _, err := db.ExecContext(ctx, "DELETE FROM "+migrationsTable+" WHERE name = ?", version); err != nil {
		t.Fatal(err)
	}
	return db, ctx
}

// TestDropWaitingMigrationKeepsOldDrops applies the waiting-at-scale columns
// to a drops table that already holds a row written before them, as a
// rolling deploy does, and reads that drop back with the old behaviour: no
// pre-queue, no cap on active passes.
func TestDropWaitingMigrationKeepsOldDrops(t *testing.T) {
	db, ctx := withoutMigration(t, "20260301000004_drop_waiting")
	if err := CheckMigrated(ctx, db); !errors.Is(err, ErrNotMigrated) || !strings.Contains(err.Error(), "20260301000004_drop_waiting") {
		t.Fatalf("CheckMigrated before 0004 = %v, want it pending", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO drops (id, name, kind, stock, seats, per_user_limit, admission, admit_rate, pass_ttl_ms, created_at)
		VALUES ('old', 'Old', 'seated', 2, '["A1","A2"]', 1, 'queued', 100, 120000, ?)`, now()); err != nil {
		t.Fatal(err)
	}

	up, err := MigrateUp(ctx, db)
	if err != nil || len(up) != 1 || !strings.Contains(up[0], "20260301000004_drop_waiting") {
		t.Fatalf("MigrateUp = %q, %v; want only 0004 applied", up, err)
	}
	d, err := NewDrops(db).Get(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if d.HasPreQueue() || !d.ShuffleAtOpen() || d.MaxActive() != 0 {
		t.Fatalf("old drop after 0004: pre-queue %v shuffle %v max_active %d; want none, true, 0",
			d.HasPreQueue(), d.ShuffleAtOpen(), d.MaxActive())
	}
}

// TestIssuanceIndexMigration applies 0005 to an issuances table that
// already holds rows, as a rolling deploy does, and shows that the unique
// keys behind the invariants still refuse a second unit for a (drop, user,
// n) and a second buyer for a seat, and that a buyer's and a drop's lists
// still have an index to read and come back in issue order.
func TestIssuanceIndexMigration(t *testing.T) {
	db, ctx := withoutMigration(t, "20261126000005_issuance_indexes")
	base := now()
	insert := func(id, dropID, user, seat string, n int, at time.Time) error {
		var s any
		if seat != "" {
			s = seat
		}
		_, err := db.ExecContext(ctx, "INSERT INTO issuances (id, drop_id, user_id, seat, n, code, issued_at) VALUES (?, ?, ?, ?, ?, 'CODE', ?)",
			id, dropID, user, s, n, at)
		return err
	}
	// Written before 0005, out of id order, so the lists must sort by time.
	for _, r := range []struct {
		id, drop, user, seat string
		n, ms                int
	}{
		{"i3", "general", "ann", "", 1, 3}, {"i1", "general", "bob", "", 1, 1},
		{"i2", "general", "ann", "", 2, 2}, {"i4", "seated", "ann", "A1", 1, 4},
	} {
		if err := insert(r.id, r.drop, r.user, r.seat, r.n, base.Add(time.Duration(r.ms)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	up, err := MigrateUp(ctx, db)
	if err != nil || len(up) != 1 || !strings.Contains(up[0], "20261126000005_issuance_indexes") {
		t.Fatalf("MigrateUp = %q, %v; want only 0005 applied", up, err)
	}

	if err := insert("i5", "general", "ann", "", 2, base); mysqlErrNumber(err) != erDupEntry {
		t.Fatalf("second unit n=2 for ann in general = %v, want a duplicate-key error", err)
	}
	if err := insert("i6", "seated", "bob", "A1", 1, base); mysqlErrNumber(err) != erDupEntry {
		t.Fatalf("second buyer for seat A1 = %v, want a duplicate-key error", err)
	}
	if err := insert("i7", "seated", "bob", "A2", 1, base); err != nil {
		t.Fatalf("bob's own seat: %v", err)
	}

	for where, key := range map[string]string{"user_id = 'ann'": "issuances_user_drop_n", "drop_id = 'general'": "issuances_drop_seat"} {
		var plan string
		if err := db.QueryRowContext(ctx, "EXPLAIN FORMAT=JSON SELECT * FROM issuances WHERE "+where+" ORDER BY issued_at, id").Scan(&plan); err != nil {
			t.Fatal(err)
		}
		// On four rows the optimizer may well scan the table; what matters
		// is that a big table has an index to read.
		if !strings.Contains(plan, `"possible_keys": ["`+key) {
			t.Errorf("WHERE %s: plan %s names no possible key %s", where, plan, key)
		}
	}

	l := NewLedger(db, LedgerOptions{})
	defer l.Close(ctx)
	ids := func(list []issuance.Issuance, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, iss := range list {
			s = append(s, iss.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(l.ByUser(ctx, "ann")); got != "i2,i3,i4" {
		t.Errorf("ByUser(ann) = %s, want i2,i3,i4 (issue order)", got)
	}
	if got := ids(l.ByDrop(ctx, "general")); got != "i1,i2,i3" {
		t.Errorf("ByDrop(general) = %s, want i1,i2,i3 (issue order)", got)
	}
	if n, err := l.CountByDrop(ctx, "seated"); err != nil || n != 2 {
		t.Errorf("CountByDrop(seated) = %d, %v; want 2", n, err)
	}
}
