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
	if total != 3 {
		t.Fatalf("concurrent MigrateUp applied %d migrations in all, want 3: %v", total, applied)
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
	if len(status) != 3 {
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
	if err != nil || len(down) != 3 || !strings.Contains(down[0], "20260301000003_inventory") {
		t.Fatalf("down = %q, %v; want three migrations, newest first", down, err)
	}
	if n := tables(); n != 0 {
		t.Fatalf("after down: %d tables left", n)
	}
	err = CheckMigrated(ctx, db)
	if !errors.Is(err, ErrNotMigrated) || !strings.Contains(err.Error(), "20260301000001_drops") {
		t.Fatalf("CheckMigrated after down = %v, want pending migrations named", err)
	}
	status, err = Migrate(ctx, db, "status")
	if err != nil || len(status) != 3 || !strings.Contains(status[0], "pending") {
		t.Fatalf("status after down = %q, %v", status, err)
	}

	if up, err := Migrate(ctx, db, "up"); err != nil || len(up) != 3 {
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
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s to notice the server is gone", d)
	}
}
