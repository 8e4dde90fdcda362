package testenv

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakPatience is how long FindLeaks lets goroutines that are on their way
// out finish. goleak alone gives them about half a second, which a busy
// machine may not schedule them in; a real leak still fails, only later.
const leakPatience = 30 * time.Second

// FindLeaks is goleak.Find, retried until no unexpected goroutine is left
// or leakPatience has passed.
func FindLeaks(opts ...goleak.Option) error {
	deadline := time.Now().Add(leakPatience)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// VerifyTestMain is goleak.VerifyTestMain with FindLeaks' patience: it runs
// the tests and, if they passed, fails the run on goroutines still left.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := FindLeaks(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
