package mysql

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchParallelism gives 32 concurrent callers per core: a spike's worth of
// claims waiting on the database at once.
const benchParallelism = 32

// BenchmarkLedgerGroupCommit records issuances through the group-commit
// writer from many goroutines; compare with BenchmarkSingleRowInsert, the
// same work as one autocommitted INSERT per issuance. Besides records/s it
// reports the p99 of Record, the CPU this process spent per record
// (getrusage: the callers' work is included, and is the same for every
// writer), and, when the server runs on this machine, its CPU per record
// (utime+stime from /proc/<pid>/stat, so it includes whatever else the
// server ran meanwhile).
//
// callers=2 is a quiet moment: two callers, so most batches find the
// database empty, and a batch that waited for company would show it in
// every Record's latency.
func BenchmarkLedgerGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchLedger(b, writers, benchParallelism) })
	}
	b.Run("writers=2/callers=2", func(b *testing.B) { benchLedger(b, 2, 1) })
}

// benchLedger runs parallelism*GOMAXPROCS callers.
func benchLedger(b *testing.B, writers, parallelism int) {
	l := NewLedger(testDB(b), LedgerOptions{Writers: writers})
	defer func() { _ = l.Close(context.Background()) }()
	ctx := context.Background()
	dropID := uid("bench")
	var (
		mu    sync.Mutex
		lats  []time.Duration
		usage = startUsage(b)
	)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		defer func() {
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
		for pb.Next() {
			iss := candidateN(dropID, uid("u"), "", 1)
			start := time.Now()
			if err := l.Record(ctx, iss); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
	})
	b.StopTimer()
	usage.report(b, b.N)
	s := l.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if s.Batches > 0 {
		b.ReportMetric(float64(s.Written)/float64(s.Batches), "records/batch")
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// cpuUsage samples this process's and mariadbd's CPU time around a benchmark.
type cpuUsage struct {
	self  time.Duration
	dbPID int
	db    time.Duration
}

func startUsage(b *testing.B) cpuUsage {
	u := cpuUsage{self: selfCPU(b), dbPID: serverPID(b)}
	if u.dbPID != 0 {
		u.db = procCPU(b, u.dbPID)
	}
	return u
}

// serverPID is the test server's process id when it runs on this machine:
// from its pid file (other mariadbd processes may run here too), or 0.
func serverPID(b *testing.B) int {
	var file string
	if err := testDB(b).QueryRowContext(context.Background(), "SELECT @@pid_file").Scan(&file); err != nil {
		return 0
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0
	}
	return pid
}

func (u cpuUsage) report(b *testing.B, n int) {
	if n == 0 {
		return
	}
	b.ReportMetric(float64((selfCPU(b)-u.self).Microseconds())/float64(n), "app-cpu-us/rec")
	if u.dbPID != 0 {
		b.ReportMetric(float64((procCPU(b, u.dbPID)-u.db).Microseconds())/float64(n), "db-cpu-us/rec")
	}
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of pid from /proc/<pid>/stat, in clock ticks of
// 1/100 s (the kernel's USER_HZ on Linux).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	rest := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, err1 := strconv.ParseInt(rest[11], 10, 64)
	st, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkSingleRowInsert is the baseline: each caller inserts its own row
// and pays its own commit.
func BenchmarkSingleRowInsert(b *testing.B) {
	db := testDB(b)
	ctx := context.Background()
	dropID := uid("bench")
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			row := issuanceToRow(candidateN(dropID, uid("u"), "", 1))
			if _, err := db.NewInsert().Model(&row).Exec(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkInsertStatement compares ways to send one batch of 32 issuances,
// one statement after another: the writer's hand-built statement with its
// values written in (one COM_QUERY), bun's InsertQuery (what the writer used
// before: reflection, then the same text), and a prepared statement with 224
// placeholders (COM_STMT_EXECUTE: the server parses once, the client sends
// binary values). It reports CPU per record in this process and in mariadbd.
func BenchmarkInsertStatement(b *testing.B) {
	const batch = 32
	db := testDB(b)
	ctx := context.Background()
	dropID := uid("bench")
	next := func() []*ledgerReq {
		reqs := make([]*ledgerReq, batch)
		for i := range reqs {
			reqs[i] = &ledgerReq{iss: candidateN(dropID, uid("u"), "", 1)}
		}
		slices.SortFunc(reqs, func(a, b *ledgerReq) int { return strings.Compare(a.iss.ID, b.iss.ID) })
		return reqs
	}
	run := func(b *testing.B, exec func(reqs []*ledgerReq) error) {
		// The issuances are made before the clock and the CPU count start.
		batches := make([][]*ledgerReq, b.N)
		for i := range batches {
			batches[i] = next()
		}
		usage := startUsage(b)
		b.ResetTimer()
		for _, reqs := range batches {
			if err := exec(reqs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		usage.report(b, b.N*batch)
	}
	b.Run("hand-built", func(b *testing.B) {
		run(b, func(reqs []*ledgerReq) error {
			_, err := db.DB.ExecContext(ctx, insertStatement(reqs))
			return err
		})
	})
	b.Run("bun", func(b *testing.B) {
		run(b, func(reqs []*ledgerReq) error {
			rows := make([]issuanceRow, len(reqs))
			for i, r := range reqs {
				rows[i] = issuanceToRow(r.iss)
			}
			_, err := db.NewInsert().Model(&rows).Ignore().Exec(ctx)
			return err
		})
	})
	b.Run("prepared", func(b *testing.B) {
		var q strings.Builder
		q.WriteString(insertHead)
		for i := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?)")
		}
		stmt, err := db.DB.PrepareContext(ctx, q.String())
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		args := make([]any, 0, 7*batch)
		run(b, func(reqs []*ledgerReq) error {
			args = args[:0]
			for _, r := range reqs {
				row := issuanceToRow(r.iss)
				args = append(args, row.ID, row.DropID, row.UserID, row.Seat, row.N, row.Code, row.IssuedAt)
			}
			_, err := stmt.ExecContext(ctx, args...)
			return err
		})
	})
}

// BenchmarkDropsGetSeated reads a 50,000-seat drop as the drop cache and the
// dispatcher do, over and over (docs/capacity.md).
func BenchmarkDropsGetSeated(b *testing.B) {
	db := testDB(b)
	ctx := ctxT(b)
	r := NewDrops(db)
	seats := make([]string, 50_000)
	for i := range seats {
		seats[i] = fmt.Sprintf("R%03d-S%03d", i/200, i%200)
	}
	d := seatedDrop(b, seats...)
	if err := r.Create(ctx, d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Get(ctx, d.ID()); err != nil {
			b.Fatal(err)
		}
	}
}
