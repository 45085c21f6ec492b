//go:build unix

package proc

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// Exited reports whether no process has this pid in this namespace.
func Exited(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// Identity names this process namespace: the host, this boot of the
// machine and the pid namespace. "" if it cannot tell (then pids are never
// compared).
func Identity(host string) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return host + "/" + strings.TrimSpace(string(boot)) + "/" + ns
}
