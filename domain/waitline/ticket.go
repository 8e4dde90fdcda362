package waitline

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// Ticket is what a buyer's line ticket says: their sequence in one
// incarnation of a drop's line (Seq 0 while in the pre-queue, with no place
// yet), the best position they were told (so a poll answered from an older
// snapshot never tells them a higher one), and when it stops being honoured.
// Its holder and drop are not inside: they are bound by the signature.
type Ticket struct {
	Epoch   string
	Seq     int64
	Last    int64
	Expires time.Time
}

// PreQueue reports whether the ticket was handed out in the pre-queue.
func (t Ticket) PreQueue() bool { return t.Seq == 0 }

const (
	ticketVersion = 1
	ticketMACLen  = 16 // a truncated HMAC-SHA256: 128 bits is beyond forging
	// MaxTicketLen bounds an encoded ticket (the API promises at most 200).
	MaxTicketLen = 200
	maxEpochLen  = 32
)

// Ticketer signs and checks tickets with one secret, which every instance of
// a deployment shares. Safe for concurrent use.
type Ticketer struct {
	pool sync.Pool // of *macState
	// epoch is the last epoch Verify decoded: a line keeps its epoch for
	// its whole life, so nearly every poll finds it here instead of
	// allocating a copy.
	epoch atomic.Pointer[string]
}

// macState is a keyed HMAC with the scratch space of one signature: the
// signed bytes are gathered in msg and written at once, because every
// []byte(string) handed to the hash.Hash interface, and the sum it returns,
// would otherwise be allocated on each poll.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

// NewTicketer returns a Ticketer keyed with secret (at least 16 bytes is wise;
// any length works).
func NewTicketer(secret []byte) *Ticketer {
	key := append([]byte(nil), secret...)
	t := &Ticketer{}
	t.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return t
}

// appendMAC appends the signature of body for userID in dropID to dst.
func (t *Ticketer) appendMAC(dst, body []byte, dropID, userID string) []byte {
	st := t.pool.Get().(*macState)
	st.msg = append(st.msg[:0], body...)
	st.msg = append(st.msg, 0)
	st.msg = append(st.msg, dropID...)
	st.msg = append(st.msg, 0)
	st.msg = append(st.msg, userID...)
	st.h.Reset()
	st.h.Write(st.msg)
	dst = append(dst, st.h.Sum(st.sum[:0])[:ticketMACLen]...)
	t.pool.Put(st)
	return dst
}

// Issue encodes and signs tk for userID in dropID. An epoch longer than 32
// bytes is cut (adapters make short ones).
func (t *Ticketer) Issue(dropID, userID string, tk Ticket) string {
	epoch := tk.Epoch
	if len(epoch) > maxEpochLen {
		epoch = epoch[:maxEpochLen]
	}
	var buf [1 + 4 + 2*binary.MaxVarintLen64 + 1 + maxEpochLen + ticketMACLen]byte
	b := append(buf[:0], ticketVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(max(tk.Expires.Unix(), 0)))
	b = binary.AppendUvarint(b, uint64(max(tk.Seq, 0)))
	b = binary.AppendUvarint(b, uint64(max(tk.Last, 0)))
	b = append(b, byte(len(epoch)))
	b = append(b, epoch...)
	b = t.appendMAC(b, b, dropID, userID)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify decodes s and checks that it was issued for userID in dropID and
// has not expired at now. Anything else (malformed, forged, foreign,
// expired) is ok false: the caller answers as if no ticket were sent.
func (t *Ticketer) Verify(s, dropID, userID string, now time.Time) (Ticket, bool) {
	if s == "" || len(s) > MaxTicketLen {
		return Ticket{}, false
	}
	// Copied, not converted: a conversion of a ticket's length is allocated.
	var src, buf [MaxTicketLen]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], src[:copy(src[:], s)])
	if err != nil || n < 1+4+1+1+1+ticketMACLen || buf[0] != ticketVersion {
		return Ticket{}, false
	}
	body, sig := buf[:n-ticketMACLen], buf[n-ticketMACLen:n]
	var want [ticketMACLen]byte
	if subtle.ConstantTimeCompare(t.appendMAC(want[:0], body, dropID, userID), sig) != 1 {
		return Ticket{}, false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint32(body[1:5])), 0)
	rest := body[5:]
	seq, k := binary.Uvarint(rest)
	if k <= 0 {
		return Ticket{}, false
	}
	rest = rest[k:]
	last, k := binary.Uvarint(rest)
	if k <= 0 || len(rest) < k+1 {
		return Ticket{}, false
	}
	rest = rest[k:]
	el := int(rest[0])
	if len(rest) != 1+el {
		return Ticket{}, false
	}
	if !now.Before(exp) {
		return Ticket{}, false
	}
	return Ticket{Epoch: t.intern(rest[1:]), Seq: int64(seq), Last: int64(last), Expires: exp}, true
}

// intern returns b as a string, the one Verify returned before when it is
// the same.
func (t *Ticketer) intern(b []byte) string {
	if p := t.epoch.Load(); p != nil && *p == string(b) {
		return *p
	}
	e := string(b)
	t.epoch.Store(&e)
	return e
}
