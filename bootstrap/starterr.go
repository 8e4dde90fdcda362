package bootstrap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/dig"
)

// SettingError is a start-up failure one setting explains: the operator reads
// the setting, its value (credentials masked) and what is wrong, in one line.
type SettingError struct {
	// Name is the environment variable, e.g. FASTDEAL_REDIS_ADDR.
	Name string
	// Value is the setting as given, with any credential replaced by ***.
	Value string
	// Err says what is wrong.
	Err error
}

func (e *SettingError) Error() string {
	return oneLine(fmt.Sprintf("%s=%q: %v", e.Name, e.Value, e.Err))
}

// Unwrap returns what is wrong.
func (e *SettingError) Unwrap() error { return e.Err }

// settingError blames name, masking the credentials its value may hold.
func settingError(name, value string, err error) *SettingError {
	return &SettingError{Name: name, Value: maskSecret(name, value), Err: err}
}

// maskSecret hides the password of a DSN or URL value, and the whole value of
// a setting that is a secret itself.
func maskSecret(name, value string) string {
	switch {
	case value == "":
		return value
	case strings.HasSuffix(name, "_TOKEN"), strings.HasSuffix(name, "_SECRET"), strings.HasSuffix(name, "_PASSWORD"):
		return "***"
	case strings.HasSuffix(name, "_DSN"):
		return MaskDSN(value)
	case strings.Contains(value, "://"):
		if u, err := url.Parse(value); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxx")
				return strings.Replace(u.String(), ":xxx@", ":***@", 1)
			}
		}
	}
	return value
}

// dsnPassword is user:password@ at the start of a go-sql-driver DSN; the
// password may itself hold '@', so the match runs to the last '@' before the
// protocol part.
var dsnPassword = regexp.MustCompile(`^([^:@/]*):(.*)@((?:tcp|unix|udp)?\(|/)`)

// MaskDSN returns the MySQL DSN with its password replaced by ***.
func MaskDSN(dsn string) string {
	if c, err := gomysql.ParseDSN(dsn); err == nil {
		if c.Passwd == "" {
			return dsn
		}
		if m := dsnPassword.FindStringSubmatchIndex(dsn); m != nil {
			return dsn[:m[4]] + "***" + dsn[m[5]:]
		}
		c.Passwd = "***"
		return c.FormatDSN()
	}
	// Unparseable: hide everything between the first ':' and the last '@'.
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
			return dsn[:colon+1] + "***" + dsn[at:]
		}
	}
	return dsn
}

// checkRedisAddr accepts one host:port, or a comma list of them: the seed
// nodes of a Redis Cluster (any node of it will do, several let the client
// start while one is down). A list that is not a cluster fails at connect.
func checkRedisAddr(addr string, cluster bool) error {
	if addr == "" {
		return nil
	}
	addrs := splitAddrs(addr)
	if len(addrs) == 0 {
		return settingError("FASTDEAL_REDIS_ADDR", addr, errors.New("is not a host:port, e.g. 127.0.0.1:6379"))
	}
	for _, a := range addrs {
		if strings.ContainsAny(a, " \t") {
			return settingError("FASTDEAL_REDIS_ADDR", addr, errors.New(
				"separate the addresses with commas: one host:port, or a comma list of Redis Cluster nodes"))
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			what := "is not a host:port, e.g. 127.0.0.1:6379"
			if len(addrs) > 1 || cluster {
				what = fmt.Sprintf("%q is not a host:port; a cluster is a comma list such as 127.0.0.1:7001,127.0.0.1:7002", a)
			}
			return settingError("FASTDEAL_REDIS_ADDR", addr, errors.New(what))
		}
	}
	return nil
}

// pingMySQL opens one connection with dsn before bun does: bun's MySQL
// dialect queries the server version as it is built and prints its own
// plain-text line when that fails, which for a wrong password or a server
// that is down would repeat the start-up error among the JSON logs.
func pingMySQL(dsn string, timeout time.Duration) error {
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return settingError("FASTDEAL_MYSQL_DSN", dsn, fmt.Errorf("is not a DSN: %w", err))
	}
	if c.Timeout == 0 || c.Timeout > timeout {
		c.Timeout = timeout
	}
	conn, err := gomysql.NewConnector(c)
	if err != nil {
		return settingError("FASTDEAL_MYSQL_DSN", dsn, err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return settingError("FASTDEAL_MYSQL_DSN", dsn, fmt.Errorf("MySQL does not answer: %w", err))
	}
	return nil
}

// StartupError reduces a failed start to the sentence that explains it: the
// SettingError when one caused it, else the innermost error, without fx's
// and dig's chain of constructors, on one line.
func StartupError(err error) error {
	if err == nil {
		return nil
	}
	// dig's errors do not all unwrap, so errors.As alone can miss the cause.
	root := dig.RootCause(err)
	var se *SettingError
	if errors.As(root, &se) || errors.As(err, &se) {
		return se
	}
	return errors.New(oneLine(root.Error()))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
