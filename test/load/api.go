package load

import (
	"encoding/json"
	"fmt"
	"time"
)

// The wire types below mirror docs/openapi.yaml; they decode only the fields the load
// generator reads, and ignore the rest so added fields never break a run.

type apiIssuance struct {
	ID       string    `json:"id"`
	DropID   string    `json:"drop_id"`
	UserID   string    `json:"user_id"`
	Seat     string    `json:"seat"`
	Code     string    `json:"code"`
	IssuedAt time.Time `json:"issued_at"`
}

// answer covers every buyer-route body: claim results, line states and problems.
type answer struct {
	Status   string       `json:"status"`
	Code     string       `json:"code"`
	Issuance *apiIssuance `json:"issuance"`
	Position int64        `json:"position"`
	// PollAfterMs is when the server wants the next status poll; 0 when the
	// server does not pace polls (it promises 500 to 60,000 when it does).
	PollAfterMs int64 `json:"poll_after_ms"`
	// Ticket is the line ticket to present on the next poll; empty when the
	// answer carries none (keep the previous one).
	Ticket string `json:"ticket"`
}

type apiDrop struct {
	ID           string  `json:"id"`
	Kind         string  `json:"kind"`
	Stock        int     `json:"stock"`
	Admission    string  `json:"admission"`
	AdmitRate    float64 `json:"admit_rate"`
	PerUserLimit int     `json:"per_user_limit"`
}

type createDrop struct {
	// ID is the drop's id; empty: the server names it.
	ID           string    `json:"id,omitempty"`
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`
	Region       string    `json:"region"`
	Venue        string    `json:"venue"`
	Stock        int       `json:"stock,omitempty"`
	Seats        []string  `json:"seats,omitempty"`
	PerUserLimit int       `json:"per_user_limit"`
	OpensAt      time.Time `json:"opens_at"`
	ClosesAt     time.Time `json:"closes_at"`
	Admission    string    `json:"admission"`
	AdmitRate    int       `json:"admit_rate,omitempty"`
	// QueueOpensAt, before OpensAt, opens a pre-queue; nil: none.
	QueueOpensAt  *time.Time `json:"queue_opens_at,omitempty"`
	ShuffleAtOpen *bool      `json:"shuffle_at_open,omitempty"`
}

type serverStats struct {
	Issued            int64   `json:"issued"`
	Remaining         int64   `json:"remaining"`
	LineLength        int64   `json:"line_length"`
	PreQueueLength    int64   `json:"pre_queue_length"`
	ActivePasses      int64   `json:"active_passes"`
	Admitted          int64   `json:"admitted"`
	Persisted         int64   `json:"persisted"`
	PendingPersist    int64   `json:"pending_persist"`
	IssuedCountSynced int64   `json:"issued_count_synced"`
	AdmitRate         float64 `json:"admit_rate"`
	Paused            bool    `json:"paused"`
}

type issuanceList struct {
	Issuances []apiIssuance `json:"issuances"`
}

// admin makes one admin call and decodes a 2xx answer into out (if not nil).
func (c *client) admin(method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	var callErr error
	c.do(method, path, c.adminHeader(), body, header{}, func(rep reply) {
		switch {
		case rep.err != nil:
			callErr = fmt.Errorf("%s %s: %w", method, path, rep.err)
		case rep.status < 200 || rep.status > 299:
			callErr = fmt.Errorf("%s %s: status %d: %s", method, path, rep.status, snippet(rep.body))
		case out != nil:
			if err := json.Unmarshal(rep.body, out); err != nil {
				callErr = fmt.Errorf("%s %s: decode: %w", method, path, err)
			}
		}
	})
	return callErr
}

func snippet(b []byte) string {
	const limit = 300
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

func seatLabel(i int) string { return fmt.Sprintf("S%05d", i+1) }
