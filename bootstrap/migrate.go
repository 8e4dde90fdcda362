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
	db, err := mysql.Open(cfg.MySQLDSN, mysql.PoolOptions{MaxOpenConns: 2})
	if err != nil {
		return nil, fmt.Errorf("FASTDEAL_MYSQL_DSN: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("MySQL at FASTDEAL_MYSQL_DSN does not answer: %w", err)
	}
	return mysql.Migrate(ctx, db, direction)
}
