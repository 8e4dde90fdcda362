// Package system runs the real fastdeal binary as separate processes against
// real MariaDB and Redis servers and breaks things underneath it: SIGKILL
// mid-sale, MySQL cut off behind a proxy, a second instance taking over the
// waiting line, Redis flushed while claims run. Each test checks the ledger in
// MySQL directly, never through the process under test.
package system
