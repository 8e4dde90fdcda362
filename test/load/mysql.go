package load

import (
	"context"
	"database/sql"
	"fmt"

	// The go-sql-driver is what FASTDEAL_MYSQL_DSN's form is written for.
	_ "github.com/go-sql-driver/mysql"
)

// readMySQL reads the drop's rows of table issuances, the durable record the
// server's answers must be backed by, in the order they were issued.
func readMySQL(ctx context.Context, dsn, dropID string) ([]apiIssuance, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx,
		"SELECT id, user_id, seat, issued_at FROM issuances WHERE drop_id = ? ORDER BY issued_at, id", dropID)
	if err != nil {
		return nil, fmt.Errorf("read issuances of drop %s: %w", dropID, err)
	}
	defer rows.Close()
	var out []apiIssuance
	for rows.Next() {
		var id, user, seat sql.NullString
		var at sql.NullTime
		if err := rows.Scan(&id, &user, &seat, &at); err != nil {
			return nil, err
		}
		out = append(out, apiIssuance{ID: id.String, DropID: dropID, UserID: user.String, Seat: seat.String, IssuedAt: at.Time})
	}
	return out, rows.Err()
}
