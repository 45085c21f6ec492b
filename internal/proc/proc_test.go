package proc

import (
	"os/exec"
	"runtime"
	"testing"
)

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot start a process:", err)
	}
	return cmd.Process.Pid
}

func TestGone(t *testing.T) {
	if runtime.GOOS == "windows" || Self().Proc == "" {
		t.Skip("pids cannot be checked here")
	}
	me := Self()
	cases := []struct {
		name  string
		o     Owner
		gone  bool
		known bool
	}{
		{"this process", me, false, true},
		{"an earlier life of this pid", Owner{Proc: me.Proc, PID: me.PID, Life: "0000"}, true, true},
		{"a process that ended", Owner{Proc: me.Proc, PID: deadPID(t), Life: "ab"}, true, true},
		{"another namespace", Owner{Proc: "elsewhere/boot/pid:[1]", PID: deadPID(t), Life: "ab"}, false, false},
		{"unknown", Owner{}, false, false},
	}
	for _, c := range cases {
		if got := c.o.Gone(); got != c.gone {
			t.Errorf("%s: Gone = %v, want %v", c.name, got, c.gone)
		}
		if got := Parse(c.o.String()); got != c.o && c.o.Proc != "" {
			t.Errorf("%s: Parse(String) = %+v, want %+v", c.name, got, c.o)
		}
		gone, known := TagGone(c.o.Tag())
		if gone != c.gone || known != c.known {
			t.Errorf("%s: TagGone = %v, %v; want %v, %v", c.name, gone, known, c.gone, c.known)
		}
	}
	for _, bad := range []string{"", "x", "1-2", "a-b-c", "12345678-x-y"} {
		if gone, known := TagGone(bad); gone || known {
			t.Errorf("TagGone(%q) = %v, %v; want false, false", bad, gone, known)
		}
	}
}
