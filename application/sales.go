package application

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// ClaimStatus is the business outcome of a claim. Only StatusIssued gives a unit.
type ClaimStatus string

// Claim outcomes; all but StatusIssued answer 409 and are not errors.
const (
	StatusIssued       ClaimStatus = "issued"
	StatusSoldOut      ClaimStatus = "sold_out"
	StatusSeatTaken    ClaimStatus = "seat_taken"
	StatusLimitReached ClaimStatus = "limit_reached"
)

// ClaimInput is one buyer's request for a unit.
type ClaimInput struct {
	DropID string
	UserID string
	// Seat names the seat in a seated drop; empty for general drops.
	Seat string
	// Key is the Idempotency-Key, scoped to (drop, user); empty for none.
	Key string
}

// ClaimResult answers a claim.
type ClaimResult struct {
	Status   ClaimStatus
	Issuance issuance.Issuance
	// Repeat is true when the issuance existed before this request (a retry
	// with the same key, or a seat the buyer already holds).
	Repeat bool
}

// LineView is a buyer's standing in a queued drop, ready to answer with.
type LineView struct {
	Status     waitline.Status
	Position   int64
	Ahead      int64
	ETASeconds float64
	Issuance   *issuance.Issuance
	Pass       *waitline.Pass
	// PollAfter is when to ask again (waiting and pre-queue answers).
	PollAfter time.Duration
	// Ticket is a new line ticket for the buyer to keep; empty when the one
	// they hold stays good.
	Ticket string
	// OpensAt is when the drop opens (pre-queue answers).
	OpensAt time.Time
}

// DropView is a drop with its live counters.
type DropView struct {
	Drop       *drop.Drop
	Status     drop.Status
	Remaining  int64
	LineLength int64
}

// SeatView is one seat of a seated drop.
type SeatView struct {
	Label string
	Taken bool
}

// SalesOptions tunes the facade.
type SalesOptions struct {
	// StoreTimeout bounds each request's storage work; past it the buyer gets
	// ErrUnavailable and nothing is issued.
	StoreTimeout time.Duration
	// OnIssued is called once per new issuance after it is durable (the count
	// syncer and metrics listen here). May be nil.
	OnIssued func(dropID string)
	// TicketSecret signs line tickets; every instance of a deployment must
	// share it. Empty: a random one (tickets then verify on this instance
	// only, and a poll elsewhere is answered from the store).
	TicketSecret []byte
	// TicketTTL is how long a line ticket is honoured (default 24 h).
	TicketTTL time.Duration
	// Pacing sets poll_after_ms.
	Pacing Pacing
	// OnStatus observes each line status answer: fast is true when it came
	// from the snapshot, without the store (metrics). May be nil.
	OnStatus func(dropID string, fast bool)
	// Live counts joins and polls for the operator's live view; nil: NewSales
	// makes its own.
	Live *LiveCounters
}

// Sales is the facade buyers go through: claims, the waiting line, and reads.
type Sales struct {
	st       Stores
	drops    *DropCache
	recon    *Reconciler
	opt      SalesOptions
	log      *zap.Logger
	inflight inflight
	tickets  *waitline.Ticketer
	snaps    *lineSnapshots
	seats    *seatCache
	// deadlines bounds each request's storage work by StoreTimeout.
	deadlines *deadlines
}

// NewSales returns the buyer facade.
func NewSales(st Stores, drops *DropCache, recon *Reconciler, opt SalesOptions, log *zap.Logger) *Sales {
	if opt.StoreTimeout <= 0 {
		opt.StoreTimeout = 2 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	if len(opt.TicketSecret) == 0 {
		opt.TicketSecret = randomSecret()
	}
	if opt.TicketTTL <= 0 {
		opt.TicketTTL = 24 * time.Hour
	}
	opt.Pacing = opt.Pacing.withDefaults()
	if opt.Live == nil {
		opt.Live = NewLiveCounters()
	}
	st = st.withDefaults()
	return &Sales{st: st, drops: drops, recon: recon, opt: opt, log: log,
		inflight:  inflight{calls: make(map[string]*call)},
		tickets:   waitline.NewTicketer(opt.TicketSecret),
		snaps:     newLineSnapshots(st.Line, st.Clock, opt.StoreTimeout, log),
		seats:     newSeatCache(st.Inventory, st.Clock, opt.StoreTimeout),
		deadlines: newDeadlines(opt.StoreTimeout)}
}

// Live returns the joins and polls counters of the operator's live view.
func (s *Sales) Live() *LiveCounters { return s.opt.Live }

// randomSecret makes a ticket secret for an instance that was given none.
func randomSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func (s *Sales) drop(ctx context.Context, id string) (*drop.Drop, error) {
	if err := drop.CheckID(id); err != nil {
		return nil, err
	}
	d, err := s.drops.Get(ctx, id)
	if err != nil && !errors.Is(err, drop.ErrNotFound) {
		return nil, unavailable("read drop", err)
	}
	return d, err
}

// Claim asks for one unit of a drop. Expected outcomes (sold out, seat taken,
// limit reached) come back as a ClaimResult, never as an error. Errors:
// drop.ErrInvalidID, drop.ErrNotFound, drop.ErrNotOpen, drop.ErrSeatRequired,
// drop.ErrSeatNotAllowed, drop.ErrUnknownSeat, waitline.ErrNotAdmitted and
// ErrUnavailable (nothing was issued). A claim answered StatusIssued with
// Repeat false is durable.
func (s *Sales) Claim(ctx context.Context, in ClaimInput) (ClaimResult, error) {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	d, err := s.drop(ctx, in.DropID)
	if err != nil {
		return ClaimResult{}, err
	}
	now := s.st.Clock.Now()
	if err := d.CheckSelling(now); err != nil {
		return ClaimResult{}, err
	}
	if err := d.CheckSeat(in.Seat); err != nil {
		return ClaimResult{}, err
	}
	if d.Queued() {
		if err := s.checkPass(ctx, d, in.UserID, now); err != nil {
			return ClaimResult{}, err
		}
	}
	if in.Key == "" {
		return s.claim(ctx, d, in, now)
	}
	// Concurrent retries with one key share the first attempt's answer, so a
	// retry never races the original into a second unit or a false 503.
	res, shared, err := s.inflight.do(in.DropID+"\x00"+in.UserID+"\x00"+in.Key, func() (ClaimResult, error) {
		return s.claim(ctx, d, in, now)
	})
	if shared && err == nil {
		res.Repeat = true
	}
	return res, err
}

func (s *Sales) checkPass(ctx context.Context, d *drop.Drop, userID string, now time.Time) error {
	if !d.Seated() {
		// In a general queued drop admission is issuance: nobody claims directly.
		return waitline.ErrNotAdmitted
	}
	st, err := s.st.Line.Standing(ctx, d.ID(), userID)
	if errors.Is(err, waitline.ErrNotInLine) {
		return waitline.ErrNotAdmitted
	}
	if err != nil {
		return unavailable("read line standing", err)
	}
	pass := st.Decision.Pass
	if (st.Status != waitline.Admitted && st.Status != waitline.Issued) || pass.Token == "" || !now.Before(pass.ExpiresAt) {
		return waitline.ErrNotAdmitted
	}
	return nil
}

func (s *Sales) claim(ctx context.Context, d *drop.Drop, in ClaimInput, now time.Time) (ClaimResult, error) {
	cand := issuance.Issuance{
		ID: s.st.IDs.NewID(), DropID: d.ID(), UserID: in.UserID, Seat: in.Seat,
		Code: s.st.IDs.NewCode(), IssuedAt: now,
	}
	res, err := s.claimUnit(ctx, d, inventory.Request{Issuance: cand, Key: in.Key, Limit: d.PerUserLimit()})
	if err != nil {
		return ClaimResult{}, err
	}
	// The ledger may already hold another unit for this seat or slot (the
	// inventory lost it and was not yet reconciled): then it is not ours.
	taken := ClaimResult{Status: StatusLimitReached}
	if d.Seated() {
		taken = ClaimResult{Status: StatusSeatTaken}
	}
	switch res.Outcome {
	case inventory.Claimed:
		if err := s.persist(ctx, res.Issuance, in.Key); err != nil {
			if errors.Is(err, issuance.ErrDuplicate) {
				return taken, nil
			}
			return ClaimResult{}, err
		}
		if d.Queued() {
			s.markIssued(ctx, d, res.Issuance)
		}
		return ClaimResult{Status: StatusIssued, Issuance: res.Issuance}, nil
	case inventory.Duplicate:
		// The earlier claim may still be committing, or its process may have
		// died before committing: recording it again is idempotent and returns
		// only once it is durable.
		if err := s.st.Ledger.Record(ctx, res.Issuance); err != nil {
			if errors.Is(err, issuance.ErrDuplicate) {
				// The held record lost to a durable one: it is stale.
				settleFailedRecord(ctx, s.st, s.log, res.Issuance, in.Key, err, s.opt.StoreTimeout)
				return taken, nil
			}
			return ClaimResult{}, unavailable("record issuance", err)
		}
		return ClaimResult{Status: StatusIssued, Issuance: res.Issuance, Repeat: true}, nil
	case inventory.SoldOut:
		return ClaimResult{Status: StatusSoldOut}, nil
	case inventory.SeatTaken:
		return ClaimResult{Status: StatusSeatTaken}, nil
	case inventory.LimitReached:
		return ClaimResult{Status: StatusLimitReached}, nil
	}
	return ClaimResult{}, errors.New("inventory returned an unknown outcome")
}

// claimUnit claims from the inventory, restoring the drop's inventory from the
// ledger once if the inventory lost it (e.g. Redis restarted empty).
func (s *Sales) claimUnit(ctx context.Context, d *drop.Drop, req inventory.Request) (inventory.Result, error) {
	res, err := s.st.Inventory.Claim(ctx, req)
	if errors.Is(err, inventory.ErrNotLoaded) && s.recon != nil {
		if _, rerr := s.recon.Reconcile(ctx, d.ID()); rerr != nil {
			return res, unavailable("restore inventory", rerr)
		}
		res, err = s.st.Inventory.Claim(ctx, req)
	}
	return res, unavailable("claim", err)
}

// persist makes a claimed unit durable, or gives it back and reports why.
func (s *Sales) persist(ctx context.Context, iss issuance.Issuance, key string) error {
	err := s.st.Ledger.Record(ctx, iss)
	if err == nil || settleFailedRecord(ctx, s.st, s.log, iss, key, err, s.opt.StoreTimeout) {
		if s.opt.OnIssued != nil {
			s.opt.OnIssued(iss.DropID)
		}
		return nil
	}
	if errors.Is(err, issuance.ErrDuplicate) {
		return err
	}
	return unavailable("record issuance", err)
}

// settleFailedRecord decides what to do with a claimed unit whose Record
// failed, and reports whether the unit is durable after all. A conflict, or
// a write the ledger says it did not make, means the unit is not durable: it
// is given back. When the ledger cannot tell (ErrOutcomeUnknown: the write
// reached the database and could not be shown stopped, so it may still
// commit), the unit is looked up once; if it is not durable yet it stays held
// all the same (the reconciler persists it later) rather than be given back
// while it may become durable, since a unit sold twice is worse than a buyer
// who heard 503 and later finds the unit among their issuances.
func settleFailedRecord(ctx context.Context, st Stores, log *zap.Logger, iss issuance.Issuance, key string, recErr error, timeout time.Duration) bool {
	cctx, cancel := detached(ctx, timeout)
	defer cancel()
	if errors.Is(recErr, issuance.ErrOutcomeUnknown) {
		got, err := st.Ledger.Get(cctx, iss.ID)
		if err == nil && got.ID == iss.ID {
			return true
		}
		log.Warn("record failed and the ledger cannot say whether it will be durable; keeping the unit held for the reconciler",
			zap.String("drop", iss.DropID), zap.String("issuance", iss.ID), zap.NamedError("record_error", recErr), zap.Error(err))
		return false
	}
	if err := st.Inventory.Release(cctx, iss, key); err != nil {
		// The reconciler finds the orphan holder record later and settles it.
		log.Error("release after failed persist", zap.String("drop", iss.DropID),
			zap.String("issuance", iss.ID), zap.Error(err))
	}
	return false
}

func (s *Sales) markIssued(ctx context.Context, d *drop.Drop, iss issuance.Issuance) {
	st, err := s.st.Line.Standing(ctx, d.ID(), iss.UserID)
	if err != nil {
		s.log.Warn("read standing after claim", zap.String("drop", d.ID()), zap.Error(err))
		return
	}
	dec := st.Decision
	dec.UserID, dec.Status, dec.IssuanceID = iss.UserID, waitline.Issued, iss.ID
	// A pass ends when its holder reaches the per-user limit; below it the
	// holder may pick another seat, and the pass still counts as active.
	dec.KeepPass = false
	if d.PerUserLimit() > 1 && s.st.Clock.Now().Before(dec.Pass.ExpiresAt) {
		held, err := s.st.Inventory.Holdings(ctx, d.ID(), iss.UserID)
		dec.KeepPass = err == nil && len(held) < d.PerUserLimit()
	}
	if err := s.st.Line.Decide(ctx, d.ID(), []waitline.Decision{dec}); err != nil {
		s.log.Warn("mark issued in line", zap.String("drop", d.ID()), zap.Error(err))
	}
}

// JoinLine puts the buyer in a queued drop's line, or reports the place or
// decision they already have (created false). Errors: drop.ErrInvalidID,
// drop.ErrNotFound, drop.ErrNotQueued, drop.ErrNotOpen (after the window),
// ErrUnavailable.
func (s *Sales) JoinLine(ctx context.Context, dropID, userID string) (LineView, bool, error) {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	d, err := s.drop(ctx, dropID)
	if err != nil {
		return LineView{}, false, err
	}
	if !d.Queued() {
		return LineView{}, false, drop.ErrNotQueued
	}
	now := s.st.Clock.Now()
	join := s.st.Line.Join
	switch d.StatusAt(now) {
	case drop.StatusClosed:
		return LineView{}, false, drop.ErrNotOpen
	case drop.StatusUpcoming:
		if !d.InPreQueueWindow(now) {
			return LineView{}, false, drop.ErrNotOpen
		}
		join = s.st.Line.JoinPreQueue
	}
	st, created, err := join(ctx, d.ID(), userID)
	if err != nil {
		return LineView{}, false, unavailable("join line", err)
	}
	if created {
		s.opt.Live.Joined(d.ID())
	}
	v, err := s.view(ctx, d, userID, st)
	return v, created, err
}

// LineStatus reports the buyer's standing. A valid line ticket (from an
// earlier answer) lets a waiting buyer be answered from this instance's
// snapshot of the line, without touching the store; an invalid, foreign or
// expired one is ignored. Errors: drop.ErrInvalidID, drop.ErrNotFound,
// drop.ErrNotQueued, waitline.ErrNotInLine, ErrUnavailable.
//
// dropID, userID and ticket may alias a buffer the caller reuses once the
// call returns (the HTTP adapter passes its request's bytes): nothing here
// keeps them, and they are copied before a store sees them, since a store
// call given up at its deadline may still hold them.
func (s *Sales) LineStatus(ctx context.Context, dropID, userID, ticket string) (LineView, error) {
	polled := false
	if ticket != "" {
		// A ticketed poll of a drop this instance holds fresh touches no
		// store, so it needs no deadline: the profile of ticketed polls put
		// the deadline's timer at 3% of the server's work.
		if d, ok := s.drops.Fresh(dropID); ok && d.Queued() {
			s.opt.Live.Polled(d.ID())
			polled = true
			if v, ok := s.ticketed(d, userID, ticket); ok {
				return v, nil
			}
		}
	}
	dropID, userID = strings.Clone(dropID), strings.Clone(userID)
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	d, err := s.drop(ctx, dropID)
	if err != nil {
		return LineView{}, err
	}
	if !d.Queued() {
		return LineView{}, drop.ErrNotQueued
	}
	if !polled {
		s.opt.Live.Polled(d.ID())
		if ticket != "" {
			if v, ok := s.ticketed(d, userID, ticket); ok {
				return v, nil
			}
		}
	}
	if s.opt.OnStatus != nil {
		s.opt.OnStatus(d.ID(), false)
	}
	st, err := s.st.Line.Standing(ctx, d.ID(), userID)
	if err != nil {
		if errors.Is(err, waitline.ErrNotInLine) {
			return LineView{}, err
		}
		return LineView{}, unavailable("read standing", err)
	}
	return s.view(ctx, d, userID, st)
}

// ticketed answers a poll that presented ticket from the line snapshot, when
// the ticket verifies and the snapshot can tell (see fromSnapshot).
func (s *Sales) ticketed(d *drop.Drop, userID, ticket string) (LineView, bool) {
	now := s.st.Clock.Now()
	t, ok := s.tickets.Verify(ticket, d.ID(), userID, now)
	if !ok {
		return LineView{}, false
	}
	v, ok := s.fromSnapshot(d, userID, t, now)
	if ok && s.opt.OnStatus != nil {
		s.opt.OnStatus(d.ID(), true)
	}
	return v, ok
}

// LeaveLine takes a waiting buyer out of the line. Errors: drop.ErrInvalidID,
// drop.ErrNotFound, drop.ErrNotQueued, waitline.ErrNotInLine, ErrUnavailable.
func (s *Sales) LeaveLine(ctx context.Context, dropID, userID string) error {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	d, err := s.drop(ctx, dropID)
	if err != nil {
		return err
	}
	if !d.Queued() {
		return drop.ErrNotQueued
	}
	if err := s.st.Line.Leave(ctx, d.ID(), userID); err != nil {
		if errors.Is(err, waitline.ErrNotInLine) {
			return err
		}
		return unavailable("leave line", err)
	}
	return nil
}

// fromSnapshot answers a poll that presented a valid ticket from the line
// snapshot, when the snapshot can tell: the buyer still waits (or the line
// closed on them), or is in a pre-queue that has not been placed. ok false
// sends the poll to the store: the buyer was decided, left, or the snapshot
// is missing, too old or of another incarnation of the line.
// When nothing the presented ticket says has changed (the same position,
// and more than half its lifetime left) the answer carries no ticket, because
// signing costs more than the rest of the answer and the client keeps the
// latest ticket it was given.
func (s *Sales) fromSnapshot(d *drop.Drop, userID string, t waitline.Ticket, now time.Time) (LineView, bool) {
	if t.PreQueue() {
		if now.Before(d.OpensAt()) {
			return LineView{Status: waitline.PreQueue, OpensAt: d.OpensAt(), PollAfter: s.opt.Pacing.PreQueue(d.OpensAt().Sub(now))}, true
		}
		snap, ok := s.snaps.get(d.ID(), now)
		if ok && !snap.Ready {
			return LineView{Status: waitline.PreQueue, OpensAt: d.OpensAt(), PollAfter: s.opt.Pacing.Placing()}, true
		}
		return LineView{}, false
	}
	snap, ok := s.snaps.get(d.ID(), now)
	if !ok || snap.Epoch != t.Epoch {
		return LineView{}, false
	}
	pos, waiting := snap.Position(t.Seq)
	if !waiting {
		return LineView{}, false
	}
	if snap.Closed {
		return LineView{Status: waitline.SoldOut}, true
	}
	// Another instance may have told this buyer a better place from a newer
	// snapshot: never tell them a worse one.
	if t.Last > 0 && pos > t.Last {
		pos = t.Last
	}
	if pos == t.Last && t.Expires.Sub(now) > s.opt.TicketTTL/2 {
		// Nothing the ticket says has changed: the answer carries none and
		// the client keeps the one it presented.
		return s.waitingView(d, userID, pos, waitline.Ticket{}, now), true
	}
	t.Last = pos
	return s.waitingView(d, userID, pos, t, now), true
}

// waitingView is a waiting buyer's answer; a ticket t with a sequence is
// signed into it, valid from now.
func (s *Sales) waitingView(d *drop.Drop, userID string, pos int64, t waitline.Ticket, now time.Time) LineView {
	eta := float64(pos) / float64(max(d.AdmitRate(), 1))
	v := LineView{Status: waitline.Waiting, Position: pos, Ahead: max(pos-1, 0), ETASeconds: eta,
		PollAfter: s.opt.Pacing.Waiting(time.Duration(eta * float64(time.Second)))}
	if t.Seq > 0 {
		t.Expires = now.Add(s.opt.TicketTTL)
		v.Ticket = s.tickets.Issue(d.ID(), userID, t)
	}
	return v
}

func (s *Sales) view(ctx context.Context, d *drop.Drop, userID string, st waitline.Standing) (LineView, error) {
	v := LineView{Status: st.Status}
	switch st.Status {
	case waitline.Waiting:
		return s.waitingView(d, userID, st.Position, waitline.Ticket{Epoch: st.Epoch, Seq: st.Seq, Last: st.Position}, s.st.Clock.Now()), nil
	case waitline.PreQueue:
		now := s.st.Clock.Now()
		v.OpensAt = d.OpensAt()
		if now.Before(d.OpensAt()) {
			v.PollAfter = s.opt.Pacing.PreQueue(d.OpensAt().Sub(now))
		} else {
			v.PollAfter = s.opt.Pacing.Placing()
		}
		v.Ticket = s.tickets.Issue(d.ID(), userID, waitline.Ticket{Expires: now.Add(s.opt.TicketTTL)})
	case waitline.Admitted:
		pass := st.Decision.Pass
		if !s.st.Clock.Now().Before(pass.ExpiresAt) {
			v.Status = waitline.Expired
		}
		v.Pass = &pass
	case waitline.Issued:
		iss, err := s.issuanceOf(ctx, d.ID(), userID, st.Decision.IssuanceID)
		if err != nil {
			return LineView{}, err
		}
		v.Issuance = &iss
	}
	return v, nil
}

// issuanceOf finds the issuance a decision names, in the inventory first (one
// round trip to the hot store) and the ledger second.
func (s *Sales) issuanceOf(ctx context.Context, dropID, userID, id string) (issuance.Issuance, error) {
	held, err := s.st.Inventory.Holdings(ctx, dropID, userID)
	if err == nil {
		for _, iss := range held {
			if iss.ID == id || id == "" {
				return iss, nil
			}
		}
	}
	iss, err := s.st.Ledger.Get(ctx, id)
	if err != nil {
		return issuance.Issuance{}, unavailable("read issuance", err)
	}
	return iss, nil
}

// MyIssuances lists what the buyer holds across drops. Errors: ErrUnavailable.
func (s *Sales) MyIssuances(ctx context.Context, userID string) ([]issuance.Issuance, error) {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	list, err := s.st.Ledger.ByUser(ctx, userID)
	return list, unavailable("list issuances", err)
}

// Drop returns one drop with its live counters. Errors: drop.ErrInvalidID,
// drop.ErrNotFound, ErrUnavailable.
func (s *Sales) Drop(ctx context.Context, id string) (DropView, error) {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	d, err := s.drop(ctx, id)
	if err != nil {
		return DropView{}, err
	}
	return s.dropView(ctx, d)
}

func (s *Sales) dropView(ctx context.Context, d *drop.Drop) (DropView, error) {
	v := DropView{Drop: d, Status: d.StatusAt(s.st.Clock.Now())}
	rem, err := s.st.Inventory.Remaining(ctx, d.ID())
	if errors.Is(err, inventory.ErrNotLoaded) && s.recon != nil {
		if _, err = s.recon.Reconcile(ctx, d.ID()); err == nil {
			rem, err = s.st.Inventory.Remaining(ctx, d.ID())
		}
	}
	if err != nil {
		return DropView{}, unavailable("read remaining", err)
	}
	v.Remaining = rem
	if d.Queued() {
		if v.LineLength, err = waiting(ctx, s.st, d.ID()); err != nil {
			return DropView{}, err
		}
	}
	return v, nil
}

// ListDrops lists drops by region and status. Errors: ErrUnavailable.
func (s *Sales) ListDrops(ctx context.Context, region string, status drop.Status) ([]DropView, error) {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	ds, err := s.st.Drops.List(ctx, drop.Filter{Region: region, Status: status, Now: s.st.Clock.Now()})
	if err != nil {
		return nil, unavailable("list drops", err)
	}
	out := make([]DropView, 0, len(ds))
	for _, d := range ds {
		v, err := s.dropView(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Seats returns one page of a seated drop's seats in label order, only the
// free ones when q.Available. The answer may be up to a second old: it is cut
// from this instance's snapshot of the drop, which one store read refreshes
// at most once a second however many callers ask. Errors: drop.ErrInvalidID,
// drop.ErrNotFound, drop.ErrSeatNotAllowed (general drop), ErrUnavailable.
func (s *Sales) Seats(ctx context.Context, id string, q SeatQuery) (SeatPage, error) {
	ctx, cancel := s.deadlines.bound(ctx)
	defer cancel()
	d, err := s.drop(ctx, id)
	if err != nil {
		return SeatPage{}, err
	}
	if !d.Seated() {
		return SeatPage{}, drop.ErrSeatNotAllowed
	}
	snap, err := s.seats.snapshot(ctx, d)
	if err != nil {
		return SeatPage{}, err
	}
	return snap.page(q), nil
}

// inflight lets concurrent claims with one idempotency key share one attempt.
type inflight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	res  ClaimResult
	err  error
}

func (f *inflight) do(key string, fn func() (ClaimResult, error)) (ClaimResult, bool, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.res, true, c.err
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.res, c.err = fn()
	return c.res, false, c.err
}

// waiting is how many buyers still wait in a drop's line: none once the line
// is closed, since everyone left in it has been told sold out.
func waiting(ctx context.Context, st Stores, dropID string) (int64, error) {
	closed, err := st.Line.Closed(ctx, dropID)
	if err != nil {
		return 0, unavailable("read line state", err)
	}
	if closed {
		return 0, nil
	}
	n, err := st.Line.Length(ctx, dropID)
	return n, unavailable("read line length", err)
}
