package application

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// admissionKey is the idempotency key the dispatcher claims with, so that a
// batch replayed after a crash finds the unit it already claimed instead of
// taking a second one.
const admissionKey = "line-admission"

// DispatcherOptions tunes admission.
type DispatcherOptions struct {
	// Instance names this process in leases; unique per instance.
	Instance string
	// Tick is how often each drop is served (default 50ms).
	Tick time.Duration
	// LeaseTTL is how long a dead holder keeps a drop before another instance
	// takes over (default 3s).
	LeaseTTL time.Duration
	// MaxBatch bounds the buyers admitted in one tick of one drop (default 2000).
	MaxBatch int
	// RefreshEvery is how often the list of queued drops is re-read (default 1s).
	RefreshEvery time.Duration
	// OnAdmitted observes each batch (metrics). May be nil.
	OnAdmitted func(dropID string, n int)
	// OnIssued is called once per new durable issuance. May be nil.
	OnIssued func(dropID string)
	// OnLease observes whether this instance holds a drop's lease. May be nil.
	OnLease func(dropID string, held bool)
	// PlaceBatch is how many pre-queue members one placement step moves
	// (default 1000): one short script each, so Redis is never blocked long.
	PlaceBatch int
	// Parallel is how many drops are served at once within a tick (default
	// 32). The callbacks above may then run concurrently.
	Parallel int
	// Reconciler, if set, restores a drop the inventory lost (Redis came
	// back empty) before admission goes on; in a queued general drop nobody
	// else claims, so nobody else would notice.
	Reconciler *Reconciler
}

// Dispatcher drains every queued drop's line at the drop's admit rate, oldest
// first, in batches. Exactly one instance admits a given drop at a time: the
// one holding the drop's lease. In a general drop admission is issuance; in a
// seated drop it grants a pass, and a pass that lapses frees its place for the
// next buyer.
type Dispatcher struct {
	st    Stores
	drops *DropCache
	opt   DispatcherOptions
	log   *zap.Logger

	mu     sync.Mutex
	states map[string]*dropState

	cancel context.CancelFunc
	done   chan struct{}
}

type dropState struct {
	tokens  float64
	last    time.Time
	backoff time.Time
	held    bool
	// placed: this drop's pre-queue is placed (or it has none); checked
	// once per holder, since a placed pre-queue stays placed.
	placed bool
	// busy: a goroutine is serving this drop now; the run loop skips it.
	busy atomic.Bool
}

// closedRecheck is how often a drop whose line is closed is looked at again:
// rarely, since nothing is left to admit, but not never, so that a line lost
// with a Redis restart is closed again.
const closedRecheck = 5 * time.Second

// NewDispatcher returns a dispatcher; Start runs it.
func NewDispatcher(st Stores, drops *DropCache, opt DispatcherOptions, log *zap.Logger) *Dispatcher {
	if opt.Tick <= 0 {
		opt.Tick = 50 * time.Millisecond
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 3 * time.Second
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 2000
	}
	if opt.PlaceBatch <= 0 {
		opt.PlaceBatch = 1000
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 32
	}
	if opt.RefreshEvery <= 0 {
		opt.RefreshEvery = time.Second
	}
	if opt.Instance == "" {
		opt.Instance = st.withDefaults().IDs.NewID()
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Dispatcher{st: st.withDefaults(), drops: drops, opt: opt, log: log, states: make(map[string]*dropState)}
}

// Start runs the dispatcher until Stop.
func (d *Dispatcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go d.run(ctx)
}

// Stop ends admission and gives up the leases this instance holds, so another
// instance takes over at once instead of after the lease time.
func (d *Dispatcher) Stop(ctx context.Context) {
	if d.cancel == nil {
		return
	}
	d.cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, s := range d.states {
		if s.held {
			if err := d.st.Lease.Release(ctx, leaseName(id), d.opt.Instance); err != nil {
				d.log.Warn("release lease", zap.String("drop", id), zap.Error(err))
			}
		}
	}
}

func leaseName(dropID string) string { return "dispatch:" + dropID }

func (d *Dispatcher) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.opt.Tick)
	defer t.Stop()
	var ids []string
	var listed time.Time
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, d.opt.Parallel)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(listed) >= d.opt.RefreshEvery {
			if fresh, err := d.queuedDrops(ctx); err != nil {
				d.log.Warn("list queued drops", zap.Error(err))
			} else {
				ids, listed = fresh, time.Now()
			}
		}
		// Drops are served side by side, so one drop's slow store calls
		// (a shard failing over, a commit stuck behind a lock) hold up only
		// that drop: a drop still being served from an earlier tick is
		// skipped, and at most Parallel drops are served at once.
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			s := d.state(id)
			if !s.busy.CompareAndSwap(false, true) {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				s.busy.Store(false) // every slot taken: next tick
				continue
			}
			wg.Go(func() {
				defer func() { <-sem; s.busy.Store(false) }()
				d.Serve(ctx, id)
			})
		}
	}
}

func (d *Dispatcher) queuedDrops(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ds, err := d.st.Drops.List(ctx, drop.Filter{Now: d.st.Clock.Now()})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, dr := range ds {
		if dr.Queued() {
			ids = append(ids, dr.ID())
		}
	}
	return ids, nil
}

func (d *Dispatcher) state(id string) *dropState {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.states[id]
	if !ok {
		s = &dropState{}
		d.states[id] = s
	}
	return s
}

// Serve does one tick of admission for one drop: it takes or renews the
// drop's lease, expires lapsed passes, and admits as many buyers as the rate
// allows since the last tick. Exported so tests can drive admission step by step.
func (d *Dispatcher) Serve(ctx context.Context, dropID string) {
	s := d.state(dropID)
	now := d.st.Clock.Now()
	if now.Before(s.backoff) {
		return
	}
	if err := d.serve(ctx, dropID, s, now); err != nil && ctx.Err() == nil {
		s.backoff = now.Add(500 * time.Millisecond)
		d.log.Warn("admission paused after an error; retrying", zap.String("drop", dropID), zap.Error(err))
	}
}

func (d *Dispatcher) serve(ctx context.Context, dropID string, s *dropState, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	held, err := d.st.Lease.Acquire(ctx, leaseName(dropID), d.opt.Instance, d.opt.LeaseTTL)
	if err != nil {
		return err
	}
	if held != s.held && d.opt.OnLease != nil {
		d.opt.OnLease(dropID, held)
	}
	s.held = held
	if !held {
		s.last = time.Time{}
		return nil
	}
	dr, err := d.drops.Get(ctx, dropID)
	if err != nil {
		return err
	}
	if dr.StatusAt(now) == drop.StatusClosed {
		return d.closeLine(ctx, dropID, s)
	}
	if dr.StatusAt(now) == drop.StatusOpen && dr.HasPreQueue() && !s.placed {
		// Nobody is admitted before the pre-queue stands in the line ahead
		// of everyone who joined after opening.
		if err := d.placePreQueue(ctx, dr); err != nil {
			return err
		}
		s.placed = true
	}
	if dr.Paused() || dr.StatusAt(now) != drop.StatusOpen {
		s.last = time.Time{}
		return nil
	}
	if dr.Seated() {
		if err := d.expirePasses(ctx, dr, now); err != nil {
			return err
		}
	}
	// Token bucket: the rate accrues since the last tick, capped at half a
	// second's worth so that a pause or a lost lease does not release a burst.
	if s.last.IsZero() {
		s.last = now.Add(-d.opt.Tick)
	}
	rate := float64(dr.AdmitRate())
	s.tokens = min(s.tokens+now.Sub(s.last).Seconds()*rate, max(rate/2, 1))
	s.last = now
	n := min(int(s.tokens), d.opt.MaxBatch)
	if n < 1 {
		return nil
	}
	rem, err := d.st.Inventory.Remaining(ctx, dropID)
	if errors.Is(err, inventory.ErrNotLoaded) && d.opt.Reconciler != nil {
		if _, err := d.opt.Reconciler.Reconcile(ctx, dropID); err != nil {
			return err
		}
		rem, err = d.st.Inventory.Remaining(ctx, dropID)
	}
	if err != nil {
		return err
	}
	room := rem
	if dr.Seated() {
		active, err := d.st.Line.ActivePasses(ctx, dropID, now)
		if err != nil {
			return err
		}
		room -= active
		if dr.MaxActive() > 0 {
			// Only this lease holder grants passes, so counting then granting
			// keeps the active passes within max_active.
			room = min(room, int64(dr.MaxActive())-active)
		}
	}
	if rem <= 0 {
		return d.closeLine(ctx, dropID, s)
	}
	// Never admit more than can be served: with room capped this way every
	// admitted buyer of a general drop gets a unit, so the batch cannot race
	// itself and admission order stays the line's order.
	n = int(min(int64(n), room))
	if n < 1 {
		return nil
	}
	users, err := d.st.Line.Peek(ctx, dropID, n)
	if err != nil || len(users) == 0 {
		return err
	}
	var admitted int
	if dr.Seated() {
		admitted, err = d.grantPasses(ctx, dr, users, now)
	} else {
		admitted, err = d.issue(ctx, dr, users, now)
	}
	s.tokens -= float64(admitted)
	if admitted > 0 && d.opt.OnAdmitted != nil {
		d.opt.OnAdmitted(dropID, admitted)
	}
	return err
}

// placeTimeout bounds one placement pass; an unfinished one resumes on the
// next tick, from wherever it stopped.
const placeTimeout = time.Minute

// placePreQueue gives every pre-queue member its place in the line, once:
// freeze (reserve their sequences, store the shuffle key), move them in
// batches in the order the key determines, then record the holes of those
// who left and mark the line ready. Every step is idempotent, so an instance
// that takes over after a crash computes the same order from the stored key
// and finishes the job without placing anyone twice or losing anyone.
func (d *Dispatcher) placePreQueue(ctx context.Context, dr *drop.Drop) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), placeTimeout)
	defer cancel()
	id := dr.ID()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	plan, err := d.st.Line.FreezePreQueue(ctx, id, key)
	if err != nil || plan.Placed {
		return err
	}
	start := time.Now()
	order := waitline.PlacementOrder(plan.Key, plan.Slots, dr.ShuffleAtOpen())
	seqOf := func(slot int64) (int64, error) {
		if slot < 1 || slot > int64(len(order)) {
			return 0, fmt.Errorf("pre-queue slot %d outside 1..%d", slot, len(order))
		}
		return plan.Base + int64(order[slot-1]) + 1, nil
	}
	placed := 0
	for after := int64(0); ; {
		ms, err := d.st.Line.PreQueueMembers(ctx, id, after, d.opt.PlaceBatch)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			break
		}
		ps := make([]waitline.Placement, len(ms))
		for i, m := range ms {
			seq, err := seqOf(m.Slot)
			if err != nil {
				return err
			}
			ps[i] = waitline.Placement{UserID: m.UserID, Seq: seq}
			after = m.Slot
		}
		if err := d.st.Line.Place(ctx, id, ps); err != nil {
			return err
		}
		placed += len(ps)
	}
	left, err := d.st.Line.PreQueueLeft(ctx, id)
	if err != nil {
		return err
	}
	holes := make([]int64, len(left))
	for i, slot := range left {
		if holes[i], err = seqOf(slot); err != nil {
			return err
		}
	}
	// ErrPreQueueBusy (someone left since the read) comes back as an error:
	// the next tick runs the whole placement again, which is idempotent.
	if err := d.st.Line.FinishPreQueue(ctx, id, holes); err != nil {
		return err
	}
	d.log.Info("pre-queue placed", zap.String("drop", id), zap.Int64("slots", plan.Slots),
		zap.Int("placed", placed), zap.Bool("shuffled", dr.ShuffleAtOpen()), zap.Duration("took", time.Since(start)))
	return nil
}

// closeLine tells everyone still waiting that the drop is sold out (or
// over), and rests the drop for closedRecheck.
func (d *Dispatcher) closeLine(ctx context.Context, dropID string, s *dropState) error {
	closed, err := d.st.Line.Closed(ctx, dropID)
	if err != nil {
		return err
	}
	if !closed {
		if err := d.st.Line.Close(ctx, dropID); err != nil {
			return err
		}
	}
	s.backoff = d.st.Clock.Now().Add(closedRecheck)
	return nil
}

func (d *Dispatcher) expirePasses(ctx context.Context, dr *drop.Drop, now time.Time) error {
	lapsed, err := d.st.Line.Lapsed(ctx, dr.ID(), now, d.opt.MaxBatch)
	if err != nil || len(lapsed) == 0 {
		return err
	}
	for i := range lapsed {
		// A buyer who got a seat keeps it: only the pass ends.
		if lapsed[i].Status != waitline.Issued {
			lapsed[i].Status = waitline.Expired
		}
		lapsed[i].KeepPass = false
	}
	return d.st.Line.Decide(ctx, dr.ID(), lapsed)
}

func (d *Dispatcher) grantPasses(ctx context.Context, dr *drop.Drop, users []string, now time.Time) (int, error) {
	ds := make([]waitline.Decision, len(users))
	for i, u := range users {
		ds[i] = waitline.Decision{UserID: u, Status: waitline.Admitted,
			Pass: waitline.Pass{Token: d.st.IDs.NewID(), ExpiresAt: now.Add(dr.PassTTL())}}
	}
	if err := d.st.Line.Decide(ctx, dr.ID(), ds); err != nil {
		return 0, err
	}
	return len(ds), nil
}

// issue gives each buyer of the batch a unit and decides the buyers whose
// unit is durable. The claims go out together (one pipelined round trip on
// Redis); issue times are fixed up front, rising by a microsecond per place,
// so the ledger's issue order is the line's. If a claim fails, the units
// claimed behind it are given back before anything is recorded, so a buyer
// never gets a unit before someone ahead of them; the claimed units are then
// made durable concurrently, so that the ledger's group commit writes the
// batch in a few transactions.
func (d *Dispatcher) issue(ctx context.Context, dr *drop.Drop, users []string, now time.Time) (int, error) {
	results := make([]inventory.Result, len(users))
	claimErrs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cand := issuance.Issuance{ID: d.st.IDs.NewID(), DropID: dr.ID(), UserID: u, Code: d.st.IDs.NewCode(),
				IssuedAt: now.Add(time.Duration(i) * time.Microsecond)}
			results[i], claimErrs[i] = d.st.Inventory.Claim(ctx, inventory.Request{Issuance: cand, Key: admissionKey, Limit: dr.PerUserLimit()})
			results[i].Issuance.UserID = u
		}()
	}
	wg.Wait()
	n := 0
	for n < len(users) && claimErrs[n] == nil {
		n++
	}
	claimErr := error(nil)
	if n < len(users) {
		claimErr = claimErrs[n]
		// Units taken behind the failure are not recorded yet: give them back
		// so those buyers are served after the one ahead of them.
		rctx, cancel := detached(ctx, 2*time.Second)
		for j := n + 1; j < len(users); j++ {
			if claimErrs[j] == nil && results[j].Outcome == inventory.Claimed {
				if err := d.st.Inventory.Release(rctx, results[j].Issuance, admissionKey); err != nil {
					d.log.Warn("give back a unit claimed behind a failed one", zap.String("drop", dr.ID()), zap.Error(err))
				}
			}
		}
		cancel()
	}
	if cut := d.outOfOrder(ctx, results[:n]); cut < n {
		// Cut the batch before the unit stamped ahead of its place; fresh
		// units behind it are given back like those behind a failure.
		rctx, cancel := detached(ctx, 2*time.Second)
		for j := cut + 1; j < n; j++ {
			if results[j].Outcome == inventory.Claimed {
				if err := d.st.Inventory.Release(rctx, results[j].Issuance, admissionKey); err != nil {
					d.log.Warn("give back a unit claimed behind a restamped one", zap.String("drop", dr.ID()), zap.Error(err))
				}
			}
		}
		cancel()
		n = cut
	}
	claims := results[:n]
	decisions := make([]waitline.Decision, len(claims))
	errs := make([]error, len(claims))
	sem := make(chan struct{}, 256)
	for i, res := range claims {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			decisions[i], errs[i] = d.settle(ctx, dr, res)
		}()
	}
	wg.Wait()
	// Decide only the leading run of successes: a buyer whose unit could not
	// be made durable stays at the head and is served first next tick.
	ok := 0
	for ok < len(claims) && errs[ok] == nil {
		ok++
	}
	if ok > 0 {
		if err := d.st.Line.Decide(ctx, dr.ID(), decisions[:ok]); err != nil {
			return 0, err
		}
	}
	if ok < len(claims) {
		return ok, errs[ok]
	}
	return ok, claimErr
}

// outOfOrder finds the first unit of the batch that would be issued ahead of
// a buyer before it in the line, gives it back so that it is claimed afresh
// (with a later time) on a later tick, and returns its index (len(results)
// when there is none). Such a unit was held by an earlier tick whose claim
// for a buyer ahead failed and whose give-back failed too: it carries that
// tick's earlier time, while the buyer ahead is now stamped later. A unit
// already durable stays as it is (giving it back could sell it twice); one
// whose give-back fails again is cut all the same and retried next tick.
func (d *Dispatcher) outOfOrder(ctx context.Context, results []inventory.Result) int {
	var latest time.Time
	for j, res := range results {
		at := res.Issuance.IssuedAt
		if j > 0 && res.Outcome == inventory.Duplicate && at.Before(latest) {
			if _, err := d.st.Ledger.Get(ctx, res.Issuance.ID); errors.Is(err, issuance.ErrNotFound) {
				rctx, cancel := detached(ctx, 2*time.Second)
				if err := d.st.Inventory.Release(rctx, res.Issuance, admissionKey); err != nil {
					d.log.Warn("give back a unit held ahead of its place", zap.String("drop", res.Issuance.DropID), zap.Error(err))
				}
				cancel()
				return j
			}
		}
		if at.After(latest) {
			latest = at
		}
	}
	return len(results)
}

// settle makes one admission claim durable and turns it into a decision.
func (d *Dispatcher) settle(ctx context.Context, dr *drop.Drop, res inventory.Result) (waitline.Decision, error) {
	user := res.Issuance.UserID
	dec := waitline.Decision{UserID: user, Status: waitline.Issued}
	switch res.Outcome {
	case inventory.Claimed:
		if err := d.st.Ledger.Record(ctx, res.Issuance); err != nil {
			if errors.Is(err, issuance.ErrDuplicate) {
				// The ledger already holds a unit of this buyer the inventory
				// did not know (it lost and was given it back): adopt it.
				return d.adopt(ctx, dr, res.Issuance)
			}
			// The unit stays held: the buyer stays at the head of the line,
			// and the next tick's claim finds it again (Duplicate, same issue
			// time) and records it, so a failure never lets a later buyer
			// overtake.
			return waitline.Decision{}, err
		}
		if d.opt.OnIssued != nil {
			d.opt.OnIssued(dr.ID())
		}
		dec.IssuanceID = res.Issuance.ID
	case inventory.Duplicate:
		// A replay after a crash: make sure the earlier unit is durable.
		if err := d.st.Ledger.Record(ctx, res.Issuance); err != nil {
			if errors.Is(err, issuance.ErrDuplicate) {
				// The held record lost to a durable unit of this buyer.
				return d.adopt(ctx, dr, res.Issuance)
			}
			return waitline.Decision{}, err
		}
		dec.IssuanceID = res.Issuance.ID
	case inventory.LimitReached:
		held, err := d.st.Inventory.Holdings(ctx, dr.ID(), user)
		if err != nil {
			return waitline.Decision{}, err
		}
		if len(held) > 0 {
			dec.IssuanceID = held[0].ID
		}
	default:
		dec.Status = waitline.SoldOut
	}
	return dec, nil
}

// adopt gives back the unit stale claimed (the ledger refused it as a
// duplicate), decides the buyer Issued with the durable unit the ledger holds
// for them, and puts that unit into the inventory so stock stays right.
func (d *Dispatcher) adopt(ctx context.Context, dr *drop.Drop, stale issuance.Issuance) (waitline.Decision, error) {
	rctx, cancel := detached(ctx, 2*time.Second)
	defer cancel()
	if err := d.st.Inventory.Release(rctx, stale, admissionKey); err != nil && !errors.Is(err, inventory.ErrNotHeld) {
		return waitline.Decision{}, err
	}
	user := stale.UserID
	mine, err := d.st.Ledger.ByUser(ctx, user)
	if err != nil {
		return waitline.Decision{}, err
	}
	for _, iss := range mine {
		if iss.DropID != dr.ID() {
			continue
		}
		if _, err := d.st.Inventory.Restore(ctx, dr, []issuance.Issuance{iss}); err != nil {
			return waitline.Decision{}, err
		}
		return waitline.Decision{UserID: user, Status: waitline.Issued, IssuanceID: iss.ID}, nil
	}
	return waitline.Decision{}, fmt.Errorf("ledger refused %s's unit as a duplicate but holds none for drop %s", user, dr.ID())
}
