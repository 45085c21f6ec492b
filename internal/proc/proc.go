// Package proc tells whether the process that left work behind (a dataset
// half written, a temporary file, a worker's runs) is still alive, so a
// starting studio can take over at once what no live process owns.
package proc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Owner names a process: where it runs and which life of its pid it is.
type Owner struct {
	// Proc names the process namespace (host, machine boot, pid
	// namespace); only processes with the same Proc can check each
	// other's pid. "" where it cannot be told.
	Proc string
	PID  int
	// Life is drawn at each process start: a pid that comes back (a
	// container restarted) is another life.
	Life string
}

var self = func() Owner {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return Owner{Proc: Identity(host), PID: os.Getpid(), Life: hex.EncodeToString(b[:])}
}()

// Self is this process.
func Self() Owner { return self }

// Gone reports whether o is known to have ended: it ran in this process
// namespace and its pid is gone, or the pid is this process's own in an
// earlier life. False where that cannot be told (another machine or
// container, an unknown owner): then only time tells.
func (o Owner) Gone() bool {
	if o.Proc == "" || o.Proc != self.Proc || o.PID <= 0 {
		return false
	}
	if o.PID == self.PID {
		return o.Life != self.Life
	}
	return Exited(o.PID)
}

// String is o as one line of text, for a database column; Parse reads it.
func (o Owner) String() string { return fmt.Sprintf("%d %s %s", o.PID, o.Life, o.Proc) }

// Parse reads what String wrote; anything else is the unknown owner.
func Parse(s string) Owner {
	f := strings.SplitN(s, " ", 3)
	if len(f) != 3 {
		return Owner{}
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return Owner{}
	}
	return Owner{PID: pid, Life: f[1], Proc: f[2]}
}

// Tag is o in a form fit for a file name (letters, digits and '-'),
// without the namespace's name itself; ParseTag reads it back.
func (o Owner) Tag() string {
	h := sha256.Sum256([]byte(o.Proc))
	return fmt.Sprintf("%s-%d-%s", hex.EncodeToString(h[:4]), o.PID, o.Life)
}

// TagGone reports whether the owner a Tag names is known to have ended
// (see Gone), and whether that could be told at all: not for a tag that
// does not parse or names another namespace (another machine or
// container sharing the folder).
func TagGone(tag string) (gone, known bool) {
	f := strings.Split(tag, "-")
	if len(f) != 3 || self.Proc == "" || f[0] != strings.SplitN(self.Tag(), "-", 2)[0] {
		return false, false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return false, false
	}
	return Owner{Proc: self.Proc, PID: pid, Life: f[2]}.Gone(), true
}
