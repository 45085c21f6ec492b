package wait

import (
	"fmt"
	"testing"
	"time"
)

// fakeT records a failure and stops Until, as Fatalf stops a test.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestUntil(t *testing.T) {
	n := 0
	Until(t, time.Minute, "three looks", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("looked %d times, want 3", n)
	}
	f := &fakeT{TB: t}
	func() {
		defer func() {
			if r := recover(); r != f {
				panic(r)
			}
		}()
		Until(f, 50*time.Millisecond, "never", func() bool { return false }, func() string { return "still at step 0" })
	}()
	if want := "timed out after 50ms waiting for never: still at step 0"; f.msg != want {
		t.Errorf("the failure says %q, want %q", f.msg, want)
	}
}
