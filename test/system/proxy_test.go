package system

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxyMode is how the proxy treats connections.
type proxyMode int

const (
	// proxyUp forwards to the target.
	proxyUp proxyMode = iota
	// proxyRefuse resets every new connection at once, as a host whose
	// database process died does.
	proxyRefuse
	// proxyBlackhole accepts new connections and never answers, as a network
	// partition does: only the client's own deadlines end the wait.
	proxyBlackhole
)

func (m proxyMode) String() string {
	switch m {
	case proxyUp:
		return "up"
	case proxyRefuse:
		return "refuse"
	case proxyBlackhole:
		return "blackhole"
	}
	return "unknown"
}

// tcpProxy forwards a local port to a target and can be switched down: going
// down cuts every live connection, so the client cannot keep using a pooled
// one, and treats new ones by the mode.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
	done  bool
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		switch {
		case p.done || mode == proxyRefuse:
			p.mu.Unlock()
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			continue
		case mode == proxyBlackhole:
			p.conns[c] = struct{}{}
			p.mu.Unlock()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if _, live := p.conns[c]; !live || p.mode != proxyUp {
		// Switched down while dialling: the client side is already cut.
		p.mu.Unlock()
		_ = up.Close()
		p.drop(c)
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Either side ending ends the pair, as a real connection would.
		p.drop(dst)
		p.drop(src)
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}

func (p *tcpProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// cutAll closes every tracked connection; the caller holds mu.
func (p *tcpProxy) cutAll() {
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		delete(p.conns, c)
	}
}

// setMode switches the proxy. Any switch cuts the live connections: going
// down so nothing reaches the target any more, coming up so blackholed
// clients stop waiting.
func (p *tcpProxy) setMode(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	p.cutAll()
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	p.done = true
	p.cutAll()
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}
