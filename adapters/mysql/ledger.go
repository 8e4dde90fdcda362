package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/issuance"
)

// LedgerOptions tunes the group-commit writer. Zero fields take the defaults.
type LedgerOptions struct {
	// MaxBatch is the most issuances one transaction inserts (default 256).
	// A batch costs one fsync whatever its size, so larger batches raise
	// throughput; 256 rows keep the statement well under max_allowed_packet
	// and the transaction's lock time short.
	MaxBatch int
	// MaxWait caps how long a batch gathers while another batch is in the
	// database (default 2ms). A batch starts at once when no other batch is
	// in the database, with whatever is queued; otherwise it gathers until
	// that commit returns, it is full, or MaxWait has passed, and then goes
	// too (at most Writers batches are in the database at once). So a lone
	// claim never waits for company, and under load the time one commit
	// takes is the time the next batch fills, as in InnoDB's group commit.
	MaxWait time.Duration
	// Timeout bounds how long Record waits (default 2s); the caller's context
	// deadline, if earlier, bounds it instead. A Record whose issuance the
	// writer had not yet taken by then returns ErrUnavailable and is never
	// written. One already taken into a batch waits for the batch's outcome,
	// which arrives by the latest deadline in the batch (at most Timeout
	// after queueing, or Timeout/4 after the batch started).
	Timeout time.Duration
	// QueueSize is how many issuances may wait for the writer (default
	// 8*MaxBatch). Record blocks, within Timeout, when the queue is full.
	QueueSize int
	// Writers is how many batches may be in the database at once (default 2).
	// With one, the next batch waits for the previous round trip even when
	// it is full; with two, one batch gathers while the other commits, and
	// goes without waiting for it once full or after MaxWait.
	Writers int
}

func (o LedgerOptions) withDefaults() LedgerOptions {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8 * o.MaxBatch
	}
	if o.Writers <= 0 {
		o.Writers = 2
	}
	return o
}

// BatchSizeBuckets are the upper bounds of LedgerStats.BatchSizes; the last
// count holds every larger batch.
var BatchSizeBuckets = [...]int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

// LedgerStats is a snapshot of the writer's counters, for metrics.
type LedgerStats struct {
	// Batches counts committed transactions, Failed the ones that failed
	// (every waiter of a failed batch got ErrUnavailable).
	Batches, Failed uint64
	// Written counts issuances in committed batches, including idempotent
	// repeats and ones refused as duplicates.
	Written uint64
	// Abandoned counts Records that gave up before the writer took them.
	Abandoned uint64
	// BatchSizes counts committed batches by size: BatchSizes[i] those of at
	// most BatchSizeBuckets[i] (and more than the previous bound); the last
	// entry those larger than every bound.
	BatchSizes [len(BatchSizeBuckets) + 1]uint64
	// MaxBatchSize is the largest batch committed so far.
	MaxBatchSize int
	// How each batch that reached the database started: StartedIdle at once,
	// no other batch being in the database; the others gathered while one
	// was, and started when it returned (StartedAfterCommit), when full
	// (StartedFull) or after MaxWait (StartedMaxWait); one that Close cut
	// short counts as StartedAfterCommit. A batch whose every request gave
	// up before it started is not counted.
	StartedIdle, StartedAfterCommit, StartedFull, StartedMaxWait uint64
	// Pending is how many Records are waiting for an answer right now.
	Pending int
}

const (
	reqPending int32 = iota
	reqTaken
	reqAbandoned
)

// batchStart says why a batch left gathering; see LedgerStats.
type batchStart int

const (
	startIdle batchStart = iota
	startAfterCommit
	startFull
	startMaxWait
	numStarts
)

type ledgerReq struct {
	iss      issuance.Issuance
	deadline time.Time
	state    atomic.Int32
	done     chan error
	// row is the request whose row the batch's statement carries for this
	// id (itself unless an earlier request of the batch had the same id).
	row *ledgerReq
}

// Ledger makes issuances durable in the issuances table through writer
// goroutines that group concurrent Records into one multi-row INSERT, so
// that N claims cost one commit instead of N. Safe for concurrent use; call
// Close to flush and stop the writers.
type Ledger struct {
	db   *bun.DB
	opts LedgerOptions

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan *ledgerReq
	done   chan struct{}
	wg     sync.WaitGroup

	// inDB counts batches in the database, gathering the batches waiting
	// for one of them to leave; settled is closed, and replaced, each time
	// one leaves. All under gmu.
	gmu       sync.Mutex
	inDB      int
	gathering int
	settled   chan struct{}

	pending   atomic.Int64
	batches   atomic.Uint64
	failed    atomic.Uint64
	written   atomic.Uint64
	abandoned atomic.Uint64
	maxBatch  atomic.Int64
	sizes     [len(BatchSizeBuckets) + 1]atomic.Uint64
	starts    [numStarts]atomic.Uint64
}

var _ issuance.Ledger = (*Ledger)(nil)

// NewLedger starts the writer goroutines and returns the ledger. The schema
// must be migrated; the server need not be up yet (Records fail with
// ErrUnavailable until it is).
func NewLedger(db *bun.DB, opts LedgerOptions) *Ledger {
	opts = opts.withDefaults()
	l := &Ledger{
		db:      db,
		opts:    opts,
		queue:   make(chan *ledgerReq, opts.QueueSize),
		done:    make(chan struct{}),
		settled: make(chan struct{}),
	}
	for range opts.Writers {
		l.wg.Go(l.run)
	}
	go func() {
		l.wg.Wait()
		close(l.done)
	}()
	return l
}

func unavailablef(format string, args ...any) error {
	return fmt.Errorf("mysql: ledger: %w: "+format, append([]any{issuance.ErrUnavailable}, args...)...)
}

// Record queues iss for the next batch and returns once that batch has
// committed: nil if iss is stored (now or by an earlier Record of the same
// id), issuance.ErrDuplicate (wrapped) if a different issuance holds its
// (drop, user, n) or (drop, seat), issuance.ErrUnavailable (wrapped) if the
// batch failed or did not commit within the timeout. An error that is not
// one of these means iss is malformed (an id or seat the schema cannot hold).
func (l *Ledger) Record(ctx context.Context, iss issuance.Issuance) error {
	if err := checkIssuance(iss); err != nil {
		return fmt.Errorf("mysql: ledger.Record: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return unavailablef("not written: %w", err)
	}
	deadline := time.Now().Add(l.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	r := &ledgerReq{iss: iss, deadline: deadline, done: make(chan error, 1)}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return unavailablef("closed")
	}
	// Counted before the send: the writer may answer and uncount it first.
	l.pending.Add(1)
	select {
	case l.queue <- r:
	case <-timer.C:
		l.mu.RUnlock()
		l.pending.Add(-1)
		return unavailablef("writer queue full for %s", l.opts.Timeout)
	case <-ctx.Done():
		l.mu.RUnlock()
		l.pending.Add(-1)
		return unavailablef("%w", ctx.Err())
	}
	l.mu.RUnlock()

	var cause error
	select {
	case err := <-r.done:
		return err
	case <-timer.C:
		cause = context.DeadlineExceeded
	case <-ctx.Done():
		cause = ctx.Err()
	}
	if r.state.CompareAndSwap(reqPending, reqAbandoned) {
		l.abandoned.Add(1)
		l.pending.Add(-1)
		return unavailablef("not written: %w", cause)
	}
	// A writer owns r: its batch ends by the latest deadline of the
	// requests in it (at most Timeout after they were queued), so the real
	// outcome is close. Wait for it even if the
	// caller has gone: an answer of "unavailable" must mean "not written",
	// or the caller would give back a unit that is in fact durable.
	return <-r.done
}

// Close stops accepting Records, lets the writers commit what is queued,
// and waits for them to exit or for ctx to end. Records after Close return
// ErrUnavailable.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mysql: ledger.Close: writer still flushing: %w", ctx.Err())
	}
}

// Stats returns the writer's counters.
func (l *Ledger) Stats() LedgerStats {
	s := LedgerStats{
		Batches:      l.batches.Load(),
		Failed:       l.failed.Load(),
		Written:      l.written.Load(),
		Abandoned:    l.abandoned.Load(),
		MaxBatchSize: int(l.maxBatch.Load()),
		Pending:      int(l.pending.Load()),
	}
	for i := range l.sizes {
		s.BatchSizes[i] = l.sizes[i].Load()
	}
	s.StartedIdle = l.starts[startIdle].Load()
	s.StartedAfterCommit = l.starts[startAfterCommit].Load()
	s.StartedFull = l.starts[startFull].Load()
	s.StartedMaxWait = l.starts[startMaxWait].Load()
	return s
}

func (l *Ledger) run() {
	batch := make([]*ledgerReq, 0, l.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-l.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		open, start := l.gather(&batch, timer)
		l.flush(batch, start)
		clear(batch)
		if !open {
			// Close: the queue is closed and drained; nothing is left.
			return
		}
	}
}

// gather completes a batch that holds its first request. With no other batch
// in the database it takes what is queued right now and starts at once: a
// lone request, or the backlog that queued during the last commit, waits for
// nobody. With one in the database it gathers until that commit returns,
// the batch is full, or MaxWait has passed. The batch counts as in the
// database from the moment gather decides it goes (flush's leave ends
// that), so a writer coming back from a commit never finds the database
// empty while the batch that gathered during that commit is about to enter
// it. It reports false once the queue is closed (and drained into the
// batch, up to its size).
func (l *Ledger) gather(batch *[]*ledgerReq, timer *time.Timer) (bool, batchStart) {
	l.gmu.Lock()
	if l.inDB == 0 {
		l.inDB++
		l.gmu.Unlock()
		return l.drain(batch), startIdle
	}
	l.gathering++
	settled := l.settled
	l.gmu.Unlock()

	timer.Reset(l.opts.MaxWait)
	defer timer.Stop()
	open, start := true, startFull
loop:
	for len(*batch) < l.opts.MaxBatch {
		select {
		case r, ok := <-l.queue:
			if !ok {
				open, start = false, startAfterCommit // Close: go with what is here
				break loop
			}
			*batch = append(*batch, r)
		case <-settled:
			// leave counted this batch in. Requests that arrived with the
			// answer may still be queued.
			return l.drain(batch), startAfterCommit
		case <-timer.C:
			open, start = l.drain(batch), startMaxWait
			break loop
		}
	}
	l.gmu.Lock()
	select {
	case <-settled:
		// leave counted this batch in meanwhile.
	default:
		l.gathering--
		l.inDB++
	}
	l.gmu.Unlock()
	return open, start
}

// drain adds what is queued right now, without waiting; it reports false
// once the queue is closed.
func (l *Ledger) drain(batch *[]*ledgerReq) bool {
	for len(*batch) < l.opts.MaxBatch {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, r)
		default:
			return true
		}
	}
	return true
}

// leave ends a batch's time in the database (begun in gather) and wakes the
// batches gathering meanwhile, which count as in the database from now on.
func (l *Ledger) leave() {
	l.gmu.Lock()
	l.inDB += l.gathering - 1
	l.gathering = 0
	close(l.settled)
	l.settled = make(chan struct{})
	l.gmu.Unlock()
}

// flush writes the batch's live requests in one statement and answers each
// of them; it never returns before every taken request has its answer.
func (l *Ledger) flush(batch []*ledgerReq, start batchStart) {
	live := batch[:0]
	deadline := time.Time{}
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqPending, reqTaken) {
			continue // its Record gave up and already counted it
		}
		live = append(live, r)
		if r.deadline.After(deadline) {
			deadline = r.deadline
		}
	}
	left := false
	defer func() {
		if !left {
			l.leave()
		}
	}()
	if len(live) == 0 {
		return
	}
	l.starts[start].Add(1)

	// The batch ends by its most patient request's deadline, and gets at
	// least minBatchWindow: a slow database delays the batch's callers but
	// does not fail all of them at the first one's deadline (on a busy
	// machine that failed whole batches of 256). A taken request's caller
	// waits for the outcome even past its own deadline, since "unavailable"
	// must mean "not written".
	deadline = later(deadline, time.Now().Add(l.minBatchWindow()))
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	rows := l.dedupe(live)
	stored, found, sent, err := l.writeBatch(ctx, rows)
	if err != nil && sent {
		// The INSERT reached the server and the client gave up on it: the
		// server may still be running it and commit after a read-back has
		// found nothing. Stop it first, then read back on a fresh deadline,
		// so each waiter hears "written" or "not written" rather than a
		// guess; if the statement cannot be shown stopped, the outcome stays
		// unknown.
		// The window is the batch minimum: a batch answers within Timeout +
		// Timeout/4 of its requests' queueing, the time the reconciler waits
		// before it treats a held unit as settled.
		rctx, rcancel := context.WithTimeout(context.Background(), l.minBatchWindow())
		if serr := l.stopStatement(rctx, rows[0].iss.ID); serr == nil {
			if got, rerr := l.readBack(rctx, batchIDs(rows)); rerr == nil {
				rcancel()
				l.leave()
				left = true
				for _, r := range live {
					if _, ok := got[r.iss.ID]; ok {
						l.answer(r, outcome(r.iss, got))
					} else {
						l.answer(r, unavailablef("not written: batch of %d: %w", len(live), err))
					}
				}
				l.failed.Add(1)
				return
			}
		}
		rcancel()
	}
	l.leave()
	left = true
	if err != nil {
		l.failed.Add(1)
		if sent {
			err = fmt.Errorf("mysql: ledger: batch of %d: %v: %w", len(live), err, issuance.ErrOutcomeUnknown)
		} else {
			err = unavailablef("not written: batch of %d: %w", len(live), err)
		}
		for _, r := range live {
			l.answer(r, err)
		}
		return
	}
	l.batches.Add(1)
	l.written.Add(uint64(len(live)))
	l.observe(len(live))
	if stored {
		// Every row went in: each request is stored unless another
		// request of the batch put a different issuance under its id.
		for _, r := range live {
			l.answer(r, outcomeRow(r.iss, issuanceToRow(r.row.iss), true))
		}
		return
	}
	for _, r := range live {
		l.answer(r, outcome(r.iss, found))
	}
}

// answer tells r's Record the outcome; Pending no longer counts it by the
// time the Record returns.
func (l *Ledger) answer(r *ledgerReq, err error) {
	l.pending.Add(-1)
	r.done <- err
}

// dedupe sorts live by id, points each request at the one whose row the
// statement carries for its id (the earliest queued), and returns those.
// Rows in primary-key order make concurrent writers take locks in the same
// order, which keeps InnoDB deadlocks rare.
func (l *Ledger) dedupe(live []*ledgerReq) []*ledgerReq {
	slices.SortStableFunc(live, func(a, b *ledgerReq) int { return strings.Compare(a.iss.ID, b.iss.ID) })
	rows := make([]*ledgerReq, 0, len(live))
	for _, r := range live {
		if n := len(rows); n > 0 && rows[n-1].iss.ID == r.iss.ID {
			r.row = rows[n-1]
			continue
		}
		r.row = r
		rows = append(rows, r)
	}
	return rows
}

func (l *Ledger) minBatchWindow() time.Duration { return l.opts.Timeout / 4 }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (l *Ledger) observe(n int) {
	for {
		cur := l.maxBatch.Load()
		if int64(n) <= cur || l.maxBatch.CompareAndSwap(cur, int64(n)) {
			break
		}
	}
	i, _ := slices.BinarySearch(BatchSizeBuckets[:], n)
	l.sizes[i].Add(1)
}

// outcome says what the committed batch means for iss, given the rows now
// stored under the batch's ids.
func outcome(iss issuance.Issuance, found map[string]issuanceRow) error {
	row, ok := found[iss.ID]
	return outcomeRow(iss, row, ok)
}

// outcomeRow says what the committed batch means for iss, given the row
// stored under its id (ok false: none, a unique key refused it).
func outcomeRow(iss issuance.Issuance, row issuanceRow, ok bool) error {
	if !ok {
		return fmt.Errorf("mysql: ledger: %s (drop %s, user %s, n %d, seat %q): %w",
			iss.ID, iss.DropID, iss.UserID, iss.N, iss.Seat, issuance.ErrDuplicate)
	}
	if row.DropID != iss.DropID || row.UserID != iss.UserID || row.N != iss.N || row.Seat.String != iss.Seat {
		return fmt.Errorf("mysql: ledger: id %s already names another issuance (drop %s, user %s, n %d): %w",
			iss.ID, row.DropID, row.UserID, row.N, issuance.ErrDuplicate)
	}
	return nil
}

// writeBatch inserts rows (distinct ids, in id order) with one multi-row
// INSERT IGNORE. stored reports that every row went in, which settles every
// outcome without a read; otherwise found holds the rows now stored under
// the batch's ids, read back after the commit. Rows a unique key refused
// are simply absent; the caller tells a repeat (same id) from a conflict.
// A deadlock with another instance's writer is retried while time is left.
func (l *Ledger) writeBatch(ctx context.Context, rows []*ledgerReq) (stored bool, found map[string]issuanceRow, sent bool, err error) {
	query := insertStatement(rows)
	for {
		stored, found, sent, err = l.tryBatch(ctx, query, rows)
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return stored, found, sent, err
		}
	}
}

func batchIDs(rows []*ledgerReq) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.iss.ID
	}
	return ids
}

// tryBatch runs the multi-row INSERT IGNORE as its own (autocommitted)
// transaction: one round trip and one commit for the whole batch. When every
// row went in, the outcome is known without reading back; otherwise a read
// after the commit tells repeats from conflicts, which is sound because
// issuances are never deleted. sent reports whether the INSERT may have
// reached the server: a connection that could not be had, or one the driver
// found broken before writing (driver.ErrBadConn), sent nothing.
func (l *Ledger) tryBatch(ctx context.Context, query string, rows []*ledgerReq) (stored bool, _ map[string]issuanceRow, sent bool, _ error) {
	// database/sql directly: bun would scan the statement for placeholders.
	conn, err := l.db.DB.Conn(ctx)
	if err != nil {
		return false, nil, false, err
	}
	defer conn.Close()
	res, err := conn.ExecContext(ctx, query)
	if err != nil {
		return false, nil, !errors.Is(err, driver.ErrBadConn), err
	}
	if n, err := res.RowsAffected(); err == nil && n == int64(len(rows)) {
		return true, nil, true, nil
	}
	got, err := readBack(ctx, l.db, batchIDs(rows))
	return false, got, true, err
}

const insertHead = "INSERT IGNORE INTO issuances (id, drop_id, user_id, seat, n, code, issued_at) VALUES "

// insertStatement builds the batch's INSERT with its values written in, so
// that it costs one round trip (COM_QUERY) and no reflection. Every value
// is either an integer, a time, or a string checkIssuance let through; a
// string is written as a quoted literal when it holds only printable ASCII
// other than quote and backslash (ids and seats always do, so
// stopStatement finds the batch by an id), and as a hex literal otherwise,
// which reads the same whatever the session's sql_mode.
func insertStatement(rows []*ledgerReq) string {
	size := len(insertHead)
	for _, r := range rows {
		iss := &r.iss
		size += len(iss.ID) + len(iss.DropID) + len(iss.UserID) + len(iss.Seat) + 2*len(iss.Code) + 64
	}
	b := make([]byte, 0, size)
	b = append(b, insertHead...)
	for i, r := range rows {
		iss := &r.iss
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		b = appendSQLString(b, iss.ID)
		b = append(b, ',')
		b = appendSQLString(b, iss.DropID)
		b = append(b, ',')
		b = appendSQLString(b, iss.UserID)
		b = append(b, ',')
		if iss.Seat == "" {
			b = append(b, "NULL"...)
		} else {
			b = appendSQLString(b, iss.Seat)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(iss.N), 10)
		b = append(b, ',')
		b = appendSQLString(b, iss.Code)
		b = append(b, ",'"...)
		b = iss.IssuedAt.UTC().AppendFormat(b, "2006-01-02 15:04:05.000000")
		b = append(b, "')"...)
	}
	// b is this call's own and never written again: no copy.
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func appendSQLString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\'' || c == '\\' {
			b = append(b, "X'"...)
			b = hex.AppendEncode(b, []byte(s))
			return append(b, '\'')
		}
	}
	b = append(b, '\'')
	b = append(b, s...)
	return append(b, '\'')
}

// stopStatement makes sure no statement naming id (the batch's INSERT) still
// runs on the server. A client whose deadline passed drops its connection,
// but MySQL and MariaDB go on running the statement until it ends, and an
// INSERT waiting on a row lock commits when the lock is released: without
// this, a read-back could find nothing, the caller would give the unit back,
// and the INSERT would then commit it (seen under SIGKILLs through nginx).
// It kills every such thread and waits until none is left; an error means
// it could not be shown stopped.
func (l *Ledger) stopStatement(ctx context.Context, id string) error {
	for {
		var threads []int64
		if err := l.db.NewSelect().TableExpr("information_schema.PROCESSLIST").Column("ID").
			Where("ID <> CONNECTION_ID()").Where("LOCATE(?, INFO) > 0", id).
			Scan(ctx, &threads); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(threads) == 0 {
			return nil
		}
		for _, th := range threads {
			// A connection kill rolls back its statement; the client side of
			// it is gone already, or the thread ended meanwhile.
			if _, err := l.db.ExecContext(ctx, "KILL ?", th); err != nil && mysqlErrNumber(err) != erNoSuchThread {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (l *Ledger) readBack(ctx context.Context, ids []string) (map[string]issuanceRow, error) {
	return readBack(ctx, l.db, ids)
}

func readBack(ctx context.Context, db bun.IDB, ids []string) (map[string]issuanceRow, error) {
	var got []issuanceRow
	if err := db.NewSelect().Model(&got).Column("id", "drop_id", "user_id", "seat", "n").
		Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	found := make(map[string]issuanceRow, len(got))
	for _, g := range got {
		found[g.ID] = g
	}
	return found, nil
}

// Get returns the issuance, issuance.ErrNotFound, or ErrUnavailable (wrapped).
func (l *Ledger) Get(ctx context.Context, id string) (_ issuance.Issuance, err error) {
	defer wrap(&err, "ledger.Get(%s)", id)
	var row issuanceRow
	if err := l.db.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return issuance.Issuance{}, issuance.ErrNotFound
		}
		return issuance.Issuance{}, translate(err, issuance.ErrUnavailable)
	}
	return row.toIssuance(), nil
}

// ByUser returns the user's issuances across drops, oldest first.
func (l *Ledger) ByUser(ctx context.Context, userID string) (_ []issuance.Issuance, err error) {
	defer wrap(&err, "ledger.ByUser(%s)", userID)
	return l.list(ctx, "user_id = ?", userID)
}

// ByDrop returns every issuance of the drop, oldest first.
func (l *Ledger) ByDrop(ctx context.Context, dropID string) (_ []issuance.Issuance, err error) {
	defer wrap(&err, "ledger.ByDrop(%s)", dropID)
	return l.list(ctx, "drop_id = ?", dropID)
}

func (l *Ledger) list(ctx context.Context, where string, arg string) ([]issuance.Issuance, error) {
	var rows []issuanceRow
	if err := l.db.NewSelect().Model(&rows).Where(where, arg).OrderExpr("issued_at ASC, id ASC").Scan(ctx); err != nil {
		return nil, translate(err, issuance.ErrUnavailable)
	}
	out := make([]issuance.Issuance, len(rows))
	for i := range rows {
		out[i] = rows[i].toIssuance()
	}
	return out, nil
}

// CountByDrop counts the drop's durable issuances with an index range scan;
// dashboards read drops.issued_count instead under load.
func (l *Ledger) CountByDrop(ctx context.Context, dropID string) (_ int64, err error) {
	defer wrap(&err, "ledger.CountByDrop(%s)", dropID)
	n, err := l.db.NewSelect().Model((*issuanceRow)(nil)).Where("drop_id = ?", dropID).Count(ctx)
	if err != nil {
		return 0, translate(err, issuance.ErrUnavailable)
	}
	return int64(n), nil
}
