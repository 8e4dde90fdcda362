package redis

import (
	"slices"
	"testing"
	"time"
)

func TestNewClientAndPing(t *testing.T) {
	c := testClient(t)
	if err := Ping(t.Context(), c); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestNewClientFailsFastOnADeadAddress(t *testing.T) {
	testAddr(t)
	start := time.Now()
	// Port 1 on loopback refuses connections at once.
	c, err := NewClient(ClientOptions{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond})
	if err == nil {
		c.Close()
		t.Fatalf("NewClient to a dead address succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("NewClient took %v to fail", time.Since(start))
	}
}

func TestClientOptionsMapping(t *testing.T) {
	o, err := ClientOptions{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379"}, Addr: "ignored:6379", Password: "p"}.rueidisOptions()
	if err != nil {
		t.Fatalf("sentinel options: %v", err)
	}
	if o.Sentinel.MasterSet != "mymaster" || !slices.Equal(o.InitAddress, []string{"s1:26379", "s2:26379"}) || o.Password != "p" {
		t.Fatalf("sentinel options = master %q, init %v", o.Sentinel.MasterSet, o.InitAddress)
	}
	if o.Dialer.Timeout != DefaultDialTimeout || o.ConnWriteTimeout != DefaultReadWriteTimeout || !o.DisableCache {
		t.Fatalf("defaults = dial %v, rw %v, cache off %v", o.Dialer.Timeout, o.ConnWriteTimeout, o.DisableCache)
	}
	o, err = ClientOptions{Addr: "h:6379", DB: 2}.rueidisOptions()
	if err != nil || !slices.Equal(o.InitAddress, []string{"h:6379"}) || o.SelectDB != 2 || o.Sentinel.MasterSet != "" {
		t.Fatalf("standalone options = %v, %v", o.InitAddress, err)
	}
	for _, bad := range []ClientOptions{{}, {MasterName: "m"}} {
		if _, err := bad.rueidisOptions(); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}
