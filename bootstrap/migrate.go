package bootstrap

import (
	"context"
	"errors"
	"fmt"

	"github.com/fastdeal/fastdeal/adapters/mysql"
)

// Migrate runs the embedded SQL migrations up, down (the last group) or
// reports their status, against FASTDEAL_MYSQL_DSN.
func Migrate(ctx context.Context, cfg Config, direction string) ([]string, error) {
	if cfg.MySQLDSN == "" {
		return nil, errors.New("FASTDEAL_MYSQL_DSN is not set: the embedded memory profile has nothing to migrate")
	}
	if err := pingMySQL(cfg.MySQLDSN, mysqlPingTimeout); err != nil {
		return nil, err
	}
	db, err := mysql.Open(cfg.MySQLDSN, mysql.PoolOptions{MaxOpenConns: 2})
	if err != nil {
		return nil, settingError("FASTDEAL_MYSQL_DSN", cfg.MySQLDSN, err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return nil, settingError("FASTDEAL_MYSQL_DSN", cfg.MySQLDSN, fmt.Errorf("MySQL does not answer: %w", err))
	}
	return mysql.Migrate(ctx, db, direction)
}
