package load

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// seen is one issuance a client was told about.
type seen struct {
	iss  apiIssuance
	user int
	at   time.Time
}

// joinRec is one user's place-taking, as the client lived it, in 24 bytes:
// firstSent is the first attempt (the earliest the server could have placed the
// user), answered the first 2xx answer (the latest), both in Unix nanoseconds
// (0: never); status is what that answer said.
type joinRec struct {
	firstSent int64
	answered  int64
	ok        bool
	status    lineStatus
}

// lineStatus is a line answer's status in one byte.
type lineStatus uint8

const (
	lsOther lineStatus = iota
	lsWaiting
	lsPreQueue
	lsIssued
	lsSoldOut
)

var lineStatusNames = [...]string{"other", "waiting", "pre_queue", "issued", "sold_out"}

func (l lineStatus) String() string { return lineStatusNames[l] }

func lineStatusOf(s string) lineStatus {
	switch s {
	case "waiting":
		return lsWaiting
	case "pre_queue":
		return lsPreQueue
	case "issued":
		return lsIssued
	case "sold_out":
		return lsSoldOut
	}
	return lsOther
}

// sale tracks what buyers were told, for the report and the audit.
type sale struct {
	mu sync.Mutex

	issued       map[string]seen
	soldOut      int64
	seatTaken    int64
	limitReached int64
	firstSoldOut time.Time
	lastIssued   time.Time

	// demand: who and what was asked for, and which of those asks got an answer.
	usersAttempted []bool
	usersAnswered  []bool
	seatsAttempted []bool
	seatsAnswered  []bool
	repeatUsers    bool

	decided     []bool
	decidedAt   time.Time
	joins       []joinRec
	lastPos     []uint32
	positionUp  int
	firstUp     string
	lost        int
	firstLost   string
	unexpected  int
	firstUnexpt string

	// prefix starts every user id of this sale's drop (see prefixedIdentities).
	prefix string

	// Counters the progress bar reads without taking mu.
	nJoined  atomic.Int64
	nDecided atomic.Int64
}

func newSale(users, seats int) *sale {
	s := &sale{
		issued:         map[string]seen{},
		usersAttempted: make([]bool, users),
		usersAnswered:  make([]bool, users),
		decided:        make([]bool, users),
	}
	if seats > 0 {
		s.seatsAttempted = make([]bool, seats)
		s.seatsAnswered = make([]bool, seats)
	}
	return s
}

// uid is user's id as the server knows it.
func (s *sale) uid(user int) string { return s.prefix + userID(user) }

func (s *sale) attempt(user, seat int) {
	s.mu.Lock()
	if s.usersAttempted[user] && seat >= 0 {
		s.repeatUsers = true
	}
	s.usersAttempted[user] = true
	if seat >= 0 {
		s.seatsAttempted[seat] = true
	}
	s.mu.Unlock()
}

// decode reads a buyer-route body; a body that is not the JSON the API promises
// is itself a finding, counted as unexpected.
func (s *sale) decode(user int, body []byte) (answer, bool) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		s.mu.Lock()
		s.noteUnexpected(fmt.Sprintf("user %s: undecodable body %q", s.uid(user), snippet(body)))
		s.mu.Unlock()
		return a, false
	}
	return a, true
}

// unexpectedAnswer notes a 2xx or 409 whose body is not one of the claim
// outcomes docs/openapi.yaml lists (a 409 drop_not_open problem, say).
func (s *sale) unexpectedAnswer(user, status int, body []byte) {
	s.mu.Lock()
	s.noteUnexpected(fmt.Sprintf("user %s: status %d %s", s.uid(user), status, snippet(body)))
	s.mu.Unlock()
}

func (s *sale) noteUnexpected(msg string) {
	s.unexpected++
	if s.firstUnexpt == "" {
		s.firstUnexpt = msg
	}
}

// outcome records a decided or informative answer (issued, sold_out, ...). It
// returns true when the user's sale is decided.
func (s *sale) outcome(user int, a answer, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch a.Status {
	case "issued":
		if a.Issuance == nil || a.Issuance.ID == "" {
			s.noteUnexpected(fmt.Sprintf("user %s: issued without an issuance", s.uid(user)))
			return false
		}
		if _, dup := s.issued[a.Issuance.ID]; !dup {
			s.issued[a.Issuance.ID] = seen{iss: *a.Issuance, user: user, at: at}
		}
		if at.After(s.lastIssued) {
			s.lastIssued = at
		}
	case "sold_out":
		s.soldOut++
		if s.firstSoldOut.IsZero() || at.Before(s.firstSoldOut) {
			s.firstSoldOut = at
		}
	case "seat_taken":
		s.seatTaken++
	case "limit_reached":
		s.limitReached++
	default:
		return false
	}
	s.decide(user, at)
	return true
}

func (s *sale) decide(user int, at time.Time) {
	if !s.decided[user] {
		s.nDecided.Add(1)
	}
	s.decided[user] = true
	if at.After(s.decidedAt) {
		s.decidedAt = at
	}
}

func (s *sale) answered(user, seat int) {
	s.mu.Lock()
	s.usersAnswered[user] = true
	if seat >= 0 {
		s.seatsAnswered[seat] = true
	}
	s.mu.Unlock()
}

func (s *sale) joinSent(user int, at time.Time) {
	s.mu.Lock()
	if s.joins[user].firstSent == 0 {
		s.joins[user].firstSent = at.UnixNano()
	}
	s.usersAttempted[user] = true
	s.mu.Unlock()
}

func (s *sale) joinAnswered(user int, a answer, at time.Time) {
	s.mu.Lock()
	j := &s.joins[user]
	if !j.ok {
		j.ok, j.answered, j.status = true, at.UnixNano(), lineStatusOf(a.Status)
		s.nJoined.Add(1)
	}
	s.usersAnswered[user] = true
	if a.Status == "waiting" && a.Position > 0 {
		s.lastPos[user] = clampPos(a.Position)
	}
	s.mu.Unlock()
}

// waiting checks that a waiting user's position never went up.
func (s *sale) waiting(user int, position int64) {
	pos := clampPos(position)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.lastPos[user]; prev > 0 && pos > prev {
		s.positionUp++
		if s.firstUp == "" {
			s.firstUp = fmt.Sprintf("user %s went from position %d to %d", s.uid(user), prev, pos)
		}
	}
	if pos > 0 {
		s.lastPos[user] = pos
	}
}

func (s *sale) lostUser(user int, body []byte) {
	s.mu.Lock()
	s.lost++
	if s.firstLost == "" {
		s.firstLost = fmt.Sprintf("user %s: %s", s.uid(user), snippet(body))
	}
	s.mu.Unlock()
}

func (s *sale) undecided() (n int, first string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u, d := range s.decided {
		if !d && s.usersAttempted[u] {
			if n == 0 {
				first = s.uid(u)
			}
			n++
		}
	}
	return n, first
}

func (s *sale) decidedCount() int64 { return s.nDecided.Load() }

// clampPos keeps a position in 4 bytes; a line longer than 4 billion is not a
// line this generator can make.
func clampPos(p int64) uint32 {
	if p < 0 {
		return 0
	}
	if p > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(p)
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func secondsSince(start, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	v := t.Sub(start).Seconds()
	return &v
}
