// Package wait is for tests that wait on work going on elsewhere (a worker,
// a server, another process): poll a condition with a deadline, never sleep
// a fixed time.
package wait

import (
	"testing"
	"time"
)

// Interval is how often Until looks.
const Interval = 20 * time.Millisecond

// Until calls done every Interval until it says true, and fails t once
// limit has passed, saying what it waited for and, if status is given,
// where things stood then. done may fail t itself on a state that can
// never come right (a run that failed).
func Until(t testing.TB, limit time.Duration, what string, done func() bool, status ...func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			msg := ""
			for _, s := range status {
				msg += ": " + s()
			}
			t.Fatalf("timed out after %s waiting for %s%s", limit, what, msg)
		}
		time.Sleep(Interval)
	}
}
