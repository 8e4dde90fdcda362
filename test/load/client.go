package load

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

// errKind sorts transport errors into the kinds the report shows.
type errKind uint8

const (
	errNone errKind = iota
	errTimeout
	errRefused
	errReset
	errOther
)

var errKindNames = [...]string{"", "timeout", "refused", "reset", "other"}

func (k errKind) String() string { return errKindNames[k] }

// classify names the kind of a transport error. fasthttp reports a peer that
// closed a kept-alive connection as ErrConnectionClosed or EOF, which is a reset
// from the caller's point of view.
func classify(err error) errKind {
	if err == nil {
		return errNone
	}
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errReset
	}
	// Some dial paths flatten the errno into text.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return errRefused
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return errReset
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "timed out"):
		return errTimeout
	}
	return errOther
}

// client sends requests to one server with fasthttp's HostClient: it reuses
// request and response objects and kept-alive connections, so a request costs the
// load generator little of the CPU it shares with the server.
type client struct {
	hc        *fasthttp.HostClient
	scheme    string
	host      string
	prefix    string
	timeout   time.Duration
	adminAuth string
}

// header is one identity header ("Authorization: Bearer ..." or "X-User-ID: ...").
type header struct{ key, value string }

func newClient(baseURL, adminToken string, timeout time.Duration, maxConns int) (*client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("target %q: want http://host:port or https://host:port", baseURL)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	return &client{
		hc: &fasthttp.HostClient{
			Addr:                          addr,
			IsTLS:                         u.Scheme == "https",
			MaxConns:                      maxConns,
			MaxConnWaitTimeout:            timeout,
			MaxIdleConnDuration:           5 * time.Second, // below common server idle timeouts, so we close first
			ReadTimeout:                   timeout,
			WriteTimeout:                  timeout,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			// A retried claim could be a second claim; errors must show, not hide.
			MaxIdemponentCallAttempts: 1,
		},
		scheme:    u.Scheme,
		host:      u.Host,
		prefix:    strings.TrimRight(u.Path, "/"),
		timeout:   timeout,
		adminAuth: "Bearer " + adminToken,
	}, nil
}

// reply is what one request came back with; body is valid only inside the
// callback that receives it.
type reply struct {
	status int
	body   []byte
	kind   errKind
	err    error
}

// do sends one request and hands the reply to fn before the buffers are reused.
// A nil body sends no body; extra is one more header (an Idempotency-Key, a
// line ticket), sent when its key is set.
func (c *client) do(method, path string, id header, body []byte, extra header, fn func(reply)) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	uri := req.URI()
	uri.SetScheme(c.scheme)
	uri.SetHost(c.host)
	uri.SetPath(c.prefix + path)
	req.Header.SetMethod(method)
	if id.key != "" {
		req.Header.Set(id.key, id.value)
	}
	if extra.key != "" {
		req.Header.Set(extra.key, extra.value)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	err := c.hc.DoTimeout(req, resp, c.timeout)
	if err != nil {
		fn(reply{kind: classify(err), err: err})
		return
	}
	fn(reply{status: resp.StatusCode(), body: resp.Body()})
}

func (c *client) adminHeader() header { return header{"Authorization", c.adminAuth} }

func (c *client) close() { c.hc.CloseIdleConnections() }

// identities makes each user's identity header once, up front, so minting costs
// nothing while the schedule runs.
func identities(n int, secret string, exp time.Time) ([]string, []header, error) {
	return prefixedIdentities("", n, secret, exp)
}

// prefixedIdentities is identities for the users of one drop of a multi-drop
// run, whose ids start with the drop's prefix ("d07-u0000001"), so that no
// buyer shops in two drops and one drop's users never share another's
// per-user rate limit.
func prefixedIdentities(prefix string, n int, secret string, exp time.Time) ([]string, []header, error) {
	ids := make([]string, n)
	hs := make([]header, n)
	key := []byte(secret)
	for i := range n {
		ids[i] = prefix + userID(i)
		if secret == "" {
			hs[i] = header{"X-User-ID", ids[i]}
			continue
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Subject:   ids[i],
			ExpiresAt: jwt.NewNumericDate(exp),
		}).SignedString(key)
		if err != nil {
			return nil, nil, fmt.Errorf("mint token for %s: %w", ids[i], err)
		}
		hs[i] = header{"Authorization", "Bearer " + tok}
	}
	return ids, hs, nil
}

func userID(i int) string { return fmt.Sprintf("u%07d", i+1) }
