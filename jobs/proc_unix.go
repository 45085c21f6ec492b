//go:build unix

package jobs

import (
	"errors"
	"syscall"
)

// processGone reports whether no process has this pid on this machine.
func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
