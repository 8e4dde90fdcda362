package mysql

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
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
const migrations = 4

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
	if err != nil || len(down) != migrations || !strings.Contains(down[0], "20260301000004_drop_waiting") {
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

// TestDropWaitingMigrationKeepsOldDrops applies the waiting-at-scale columns
// to a drops table that already holds a row written before them, as a
// rolling deploy does, and reads that drop back with the old behaviour: no
// pre-queue, no cap on active passes.
func TestDropWaitingMigrationKeepsOldDrops(t *testing.T) {
	name := freshDatabase(t)
	db, err := Open(dsnVia(t, "", name), PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := ctxT(t)
	if _, err := MigrateUp(ctx, db); err != nil {
		t.Fatal(err)
	}
	// Back to the schema before 0004, by its own down script, so the test
	// also proves that script undoes exactly what the up script did.
	down, err := migrationFiles.ReadFile("migrations/20260301000004_drop_waiting.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, string(down)); err != nil {
		t.Fatalf("down script: %v", err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM "+migrationsTable+" WHERE name = ?", "20260301000004"); err != nil {
		t.Fatal(err)
	}
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
