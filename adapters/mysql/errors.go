package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/fastdeal/fastdeal/domain/issuance"
)

// MySQL server error numbers this package reacts to.
const (
	erDupEntry          = 1062
	erNoSuchTable       = 1146
	erLockWaitTimeout   = 1205
	erLockDeadlock      = 1213
	erConCount          = 1040 // too many connections
	erServerShutdown    = 1053
	erConnKilled        = 1927
	erOptionPreventsRO  = 1290 // --read-only during a failover
	erReadOnlyMode      = 1836
	erQueryInterrupted  = 1317
	erStatementTimeout  = 3024
	erMariaStmtTimeout  = 1969
	erClientIdleTimeout = 4031 // MySQL 8: server closed an idle session
	erNoSuchThread      = 1094 // KILL of a thread that has ended
)

// errUnavailable is the sentinel for stores without their own: drop has no
// ErrUnavailable, and "storage unavailable" is what the HTTP table turns into
// 503 for issuance already.
var errUnavailable = issuance.ErrUnavailable

func mysqlErrNumber(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func isDuplicate(err error) bool { return mysqlErrNumber(err) == erDupEntry }

// isRetryable reports errors after which InnoDB has rolled the transaction
// back and the same transaction may simply run again.
func isRetryable(err error) bool {
	n := mysqlErrNumber(err)
	return n == erLockDeadlock
}

// isUnavailable reports errors that mean the server could not be reached or
// could not serve in time, so the caller must answer "try later" rather than
// "no" or "bug". Lock wait timeouts count: the claim was rolled back and the
// hot row will take it later.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, gomysql.ErrInvalidConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	switch mysqlErrNumber(err) {
	case erConCount, erServerShutdown, erConnKilled, erOptionPreventsRO, erReadOnlyMode,
		erQueryInterrupted, erStatementTimeout, erMariaStmtTimeout, erLockWaitTimeout,
		erLockDeadlock, erClientIdleTimeout:
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "connection reset") || strings.Contains(s, "i/o timeout")
}

// translate wraps err with sentinel when it means the store is unreachable,
// keeping the cause for logs; other errors pass unchanged.
func translate(err error, sentinel error) error {
	if err == nil || errors.Is(err, sentinel) {
		return err
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

// wrap adds the operation to a returned error, keeping sentinels matchable.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("mysql: "+format+": %w", append(args, *errp)...)
	}
}

func wrapErr(err error, format string, args ...any) error {
	wrap(&err, format, args...)
	return err
}
