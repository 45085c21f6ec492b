package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/internal/proc"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }); err != nil {
		t.Fatal(err)
	}
	// A failing writer leaves the old content and no temporary file.
	boom := errors.New("boom")
	if err := Write(p, func(w io.Writer) error { io.WriteString(w, "tw"); return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("content %q after a failed write", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files left", len(ents))
	}
	if err := Write(filepath.Join(dir, "missing", "f"), func(io.Writer) error { return nil }); err == nil {
		t.Fatal("write into a missing folder succeeded")
	}
}

func TestSweep(t *testing.T) {
	me := proc.Self()
	if me.Proc == "" {
		t.Skip("pids cannot be checked here")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot start a process:", err)
	}
	dead := proc.Owner{Proc: me.Proc, PID: cmd.Process.Pid, Life: "ab"}
	foreign := proc.Owner{Proc: "elsewhere/boot/pid:[1]", PID: 7, Life: "cd"}
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	files := []struct {
		name string
		old  bool
		kept bool
	}{
		{me.Tag() + ".upload.zip", false, true},
		{me.Tag() + ".stale-but-mine.zip", true, true},
		{dead.Tag() + ".upload.zip", false, false},
		{proc.Owner{Proc: me.Proc, PID: me.PID, Life: "0000"}.Tag() + ".earlier-life.zip", false, false},
		{foreign.Tag() + ".new.zip", false, true},
		{foreign.Tag() + ".old.zip", true, false},
		{"untagged", false, true},
		{"untagged-old", true, false},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
			t.Fatal(err)
		}
		if f.old {
			os.Chtimes(p, old, old)
		}
	}
	n, size, err := Sweep(dir, 24*time.Hour)
	if err != nil || n != 4 || size != 20 {
		t.Errorf("Sweep: %d files, %d bytes, %v; want 4, 20, nil", n, size, err)
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.name))
		if kept := err == nil; kept != f.kept {
			t.Errorf("%s: kept %v, want %v", f.name, kept, f.kept)
		}
	}
	if n, _, err := Sweep(filepath.Join(dir, "missing"), time.Hour); n != 0 || err != nil {
		t.Errorf("Sweep of a missing folder: %d, %v", n, err)
	}
	// WriteVia leaves nothing in its folder, on success or failure.
	tmp := filepath.Join(dir, "tmp")
	if err := WriteVia(tmp, filepath.Join(dir, "out"), func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }); err != nil {
		t.Fatal(err)
	}
	WriteVia(tmp, filepath.Join(dir, "out"), func(io.Writer) error { return errors.New("boom") })
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("%d temporary files left by WriteVia", len(ents))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "x" {
		t.Errorf("content %q", b)
	}
}
