package mysql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Tables of bun/migrate, named for fastdeal so the schema can share a
// database with another bun application without mixing histories.
const (
	migrationsTable     = "fastdeal_migrations"
	migrationLocksTable = "fastdeal_migration_locks"
	// migrateLockName is a server-side named lock (GET_LOCK): unlike bun's
	// lock table it waits instead of failing, and the server frees it when
	// the holder's connection dies, so a killed `migrate up` cannot wedge
	// the next one.
	migrateLockName    = "fastdeal_migrate"
	migrateLockTimeout = 60 * time.Second
)

func migrator(db *bun.DB) (*migrate.Migrator, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(migrationFiles); err != nil {
		return nil, fmt.Errorf("mysql: embedded migrations: %w", err)
	}
	return migrate.NewMigrator(db, ms,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		// A migration that fails halfway stays pending, so fixing the cause
		// and running `migrate up` again retries it.
		migrate.WithMarkAppliedOnSuccess(true),
	), nil
}

// withMigrateLock runs fn while holding the named migration lock, so that
// several processes (replicas starting together, parallel test packages)
// migrating the same database apply each migration once.
func withMigrateLock(ctx context.Context, db *bun.DB, fn func() error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return translate(err, errUnavailable)
	}
	defer conn.Close()
	var got *int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", migrateLockName, int(migrateLockTimeout/time.Second)).Scan(&got); err != nil {
		return translate(err, errUnavailable)
	}
	if got == nil || *got != 1 {
		return fmt.Errorf("mysql: another process holds the migration lock %q for over %s", migrateLockName, migrateLockTimeout)
	}
	defer func() {
		// A fresh context: the caller's may be done, and the lock must go.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := conn.ExecContext(rctx, "DO RELEASE_LOCK(?)", migrateLockName); rerr != nil && err == nil {
			err = fmt.Errorf("mysql: release migration lock: %w", rerr)
		}
	}()
	return fn()
}

// MigrateUp applies every pending migration as one group and returns a line
// per migration it applied (none when the schema was current).
func MigrateUp(ctx context.Context, db *bun.DB) ([]string, error) {
	m, err := migrator(db)
	if err != nil {
		return nil, err
	}
	var lines []string
	err = withMigrateLock(ctx, db, func() error {
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("mysql: migrate init: %w", err)
		}
		group, err := m.Migrate(ctx)
		if group != nil {
			for _, mig := range group.Migrations {
				lines = append(lines, fmt.Sprintf("applied %s_%s (group %d)", mig.Name, mig.Comment, group.ID))
			}
		}
		if err != nil {
			return fmt.Errorf("mysql: migrate up: %w", err)
		}
		return nil
	})
	return lines, err
}

// MigrateDown rolls back the last group of migrations that MigrateUp applied
// and returns a line per migration it rolled back. Rolling back drops tables
// and their data.
func MigrateDown(ctx context.Context, db *bun.DB) ([]string, error) {
	m, err := migrator(db)
	if err != nil {
		return nil, err
	}
	var lines []string
	err = withMigrateLock(ctx, db, func() error {
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("mysql: migrate init: %w", err)
		}
		group, err := m.Rollback(ctx)
		if group != nil {
			for i := len(group.Migrations) - 1; i >= 0; i-- {
				mig := group.Migrations[i]
				lines = append(lines, fmt.Sprintf("rolled back %s_%s (group %d)", mig.Name, mig.Comment, group.ID))
			}
		}
		if err != nil {
			return fmt.Errorf("mysql: migrate down: %w", err)
		}
		return nil
	})
	return lines, err
}

// MigrationStatus returns one printable line per known migration: its name
// and whether (and when, in which group) it was applied.
func MigrationStatus(ctx context.Context, db *bun.DB) ([]string, error) {
	ms, err := migrationsWithStatus(ctx, db)
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(ms))
	for _, mig := range ms {
		state := "pending"
		if mig.IsApplied() {
			state = fmt.Sprintf("applied %s (group %d)", mig.MigratedAt.UTC().Format(time.RFC3339), mig.GroupID)
		}
		lines = append(lines, fmt.Sprintf("%s_%s  %s", mig.Name, mig.Comment, state))
	}
	return lines, nil
}

// Migrate runs direction "up", "down" or "status" and returns printable
// lines; it is the shape a `fastdeal migrate <direction>` command needs.
func Migrate(ctx context.Context, db *bun.DB, direction string) ([]string, error) {
	switch direction {
	case "up":
		return MigrateUp(ctx, db)
	case "down":
		return MigrateDown(ctx, db)
	case "status":
		return MigrationStatus(ctx, db)
	}
	return nil, fmt.Errorf("mysql: unknown migrate direction %q (want up, down or status)", direction)
}

// ErrNotMigrated: the database schema is older than this binary; run
// `fastdeal migrate up`. CheckMigrated returns it wrapped.
var ErrNotMigrated = errors.New("database schema is not current: run `fastdeal migrate up`")

// CheckMigrated returns ErrNotMigrated (wrapped, naming the pending
// migrations) unless every migration this binary knows is applied, so a
// process started against an old schema fails at start-up instead of on the
// first claim. A schema newer than the binary is accepted: during a rolling
// deploy the old replicas keep serving on additive migrations.
func CheckMigrated(ctx context.Context, db *bun.DB) error {
	ms, err := migrationsWithStatus(ctx, db)
	if err != nil {
		var me *gomysql.MySQLError
		if errors.As(err, &me) && me.Number == erNoSuchTable {
			return fmt.Errorf("%w (no migration history in this database)", ErrNotMigrated)
		}
		return err
	}
	var pending []string
	for _, mig := range ms.Unapplied() {
		pending = append(pending, mig.Name+"_"+mig.Comment)
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w (pending: %s)", ErrNotMigrated, strings.Join(pending, ", "))
	}
	return nil
}

func migrationsWithStatus(ctx context.Context, db *bun.DB) (migrate.MigrationSlice, error) {
	m, err := migrator(db)
	if err != nil {
		return nil, err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql: migration status: %w", translate(err, errUnavailable))
	}
	return ms, nil
}
