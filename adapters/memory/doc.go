// Package memory implements every fastdeal port in process memory: the store of
// the embedded profile and the double that tests and the contract suite use.
//
// State is kept per drop, each drop behind its own mutex, so buyers of one drop
// never wait for buyers of another and a claim holds a lock only for the few
// map operations that make it atomic. Nothing survives the process: the
// embedded profile trades durability for needing no MySQL and no Redis.
package memory

import "sync"

// perKey lazily creates one T per key (a drop id, a user id) and hands out
// the same *T forever after, so callers lock the T, not a shared map.
type perKey[T any] struct {
	m    sync.Map
	newT func() *T
}

func (p *perKey[T]) get(key string) (*T, bool) {
	v, ok := p.m.Load(key)
	if !ok {
		return nil, false
	}
	return v.(*T), true
}

func (p *perKey[T]) getOrCreate(key string) *T {
	if v, ok := p.m.Load(key); ok {
		return v.(*T)
	}
	v, _ := p.m.LoadOrStore(key, p.newT())
	return v.(*T)
}
