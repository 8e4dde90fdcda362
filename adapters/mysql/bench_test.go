package mysql

import (
	"context"
	"fmt"
	"testing"
)

// benchParallelism gives 32 concurrent callers per core: a spike's worth of
// claims waiting on the database at once.
const benchParallelism = 32

// BenchmarkLedgerGroupCommit records issuances through the group-commit
// writer from many goroutines; compare with BenchmarkSingleRowInsert, the
// same work as one autocommitted INSERT per issuance.
func BenchmarkLedgerGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchLedger(b, writers) })
	}
}

func benchLedger(b *testing.B, writers int) {
	l := NewLedger(testDB(b), LedgerOptions{Writers: writers})
	defer func() { _ = l.Close(context.Background()) }()
	ctx := context.Background()
	dropID := uid("bench")
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Record(ctx, candidateN(dropID, uid("u"), "", 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	s := l.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if s.Batches > 0 {
		b.ReportMetric(float64(s.Written)/float64(s.Batches), "records/batch")
	}
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
