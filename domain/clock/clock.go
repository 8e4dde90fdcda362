// Package clock declares the small ports the use cases need from the outside
// world: the time and fresh identifiers.
package clock

import (
	"crypto/rand"
	"time"
)

// Clock tells the time. Tests drive a fake one.
type Clock interface {
	Now() time.Time
}

// System is the real clock.
type System struct{}

// Now returns the current UTC time to the microsecond, the precision MySQL
// keeps, so an issuance read back from any store equals the one issued.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// IDs makes identifiers that are unique across processes.
type IDs interface {
	// NewID returns a fresh id of 1 to 64 of [A-Za-z0-9_-].
	NewID() string
	// NewCode returns a short secret code printed on an issuance.
	NewCode() string
}

// RandomIDs makes ids from a millisecond timestamp and 64 random bits, so they
// sort roughly by creation time and never collide in practice.
type RandomIDs struct{}

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// NewID returns a 24-character id: 9 characters of time, 15 of randomness.
func (RandomIDs) NewID() string {
	var b [24]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 8; i >= 0; i-- {
		b[i] = alphabet[ms%36]
		ms /= 36
	}
	var r [15]byte
	_, _ = rand.Read(r[:])
	for i, v := range r {
		b[9+i] = alphabet[int(v)%36]
	}
	return string(b[:])
}

// NewCode returns a 10-character upper-case code.
func (RandomIDs) NewCode() string {
	const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var r [10]byte
	_, _ = rand.Read(r[:])
	for i, v := range r {
		r[i] = codeAlphabet[int(v)%len(codeAlphabet)]
	}
	return string(r[:])
}
