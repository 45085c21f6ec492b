package store

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/internal/wait"
)

// killHelper is set in the environment of a test binary run as a helper
// process that is then killed.
const killHelper = "GANSTUDIO_TEST_KILL_HELPER"

// TestKillHelperImport is not a test: run by TestKilledImportSweptAtStart
// as another process, it starts an import and hangs while writing its sheet.
func TestKillHelperImport(t *testing.T) {
	dir := os.Getenv(killHelper)
	if dir == "" {
		t.Skip("only run as a helper process")
	}
	s, err := OpenConfig(context.Background(), testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	s.CreateDataset(context.Background(), &Dataset{Name: "killed", Res: 64, Count: 1}, func(w io.Writer) error {
		w.Write(make([]byte, 4<<20)) // past the write buffer: on disk
		os.WriteFile(filepath.Join(dir, "writing"), nil, 0o644)
		select {} // until killed
	})
}

// TestKilledImportSweptAtStart kills (SIGKILL) a process while it writes a
// dataset's sheet: the next Open removes its hidden row and its partial
// blob at once, not an hour later.
func TestKilledImportSweptAtStart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir) // migrated before the helper starts
	tmp := s.Blobs.(interface{ TempDir() string }).TempDir()
	s.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelperImport$")
	cmd.Env = append(os.Environ(), killHelper+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	wait.Until(t, time.Minute, "the helper to start writing", func() bool {
		_, err := os.Stat(filepath.Join(dir, "writing"))
		return err == nil
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Fatalf("%d partial blobs after the kill, want 1 (the test shows nothing)", len(ents))
	}

	s = open(t, dir)
	var rows int
	s.DB.QueryRow(`SELECT COUNT(*) FROM datasets`).Scan(&rows)
	if rows != 0 || s.Swept.Datasets != 1 {
		t.Errorf("after the restart: %d dataset rows, %d swept; want 0 and 1", rows, s.Swept.Datasets)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 || s.Swept.TempFiles != 1 || s.Swept.TempBytes < 4<<20 {
		t.Errorf("after the restart: %d partial blobs left, %d (%d bytes) swept; want 0 left, 1 of 4 MiB swept", len(ents), s.Swept.TempFiles, s.Swept.TempBytes)
	}
}
