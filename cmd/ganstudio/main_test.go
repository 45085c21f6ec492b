package main

import (
	"bufio"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func countSteps(t *testing.T, path string) (steps []int, evals int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad metrics line %q: %v", sc.Text(), err)
		}
		if _, ok := rec["swd"]; ok {
			evals++
			continue
		}
		steps = append(steps, int(rec["step"].(float64)))
	}
	return steps, evals
}

func TestTrainResumeSample(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx := context.Background()
	err := run(ctx, []string{"train", "--dataset", "builtin:shapes", "--preset", "tiny", "--batch", "4",
		"--steps", "3", "--out", dir, "--grid-every", "2", "--eval-every", "0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "checkpoint.gob", "grid-000000.png", "grid-000002.png", "grid-000003.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// A stray line past the checkpoint, as a crash after it would leave.
	mf, _ := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	mf.WriteString(`{"step":4,"loss_d":1}` + "\n")
	mf.Close()
	if err := run(ctx, []string{"train", "--resume", dir, "--steps", "5", "--eval-every", "0"}); err != nil {
		t.Fatal(err)
	}
	steps, _ := countSteps(t, filepath.Join(dir, "metrics.jsonl"))
	if want := []int{1, 2, 3, 4, 5}; len(steps) != len(want) || steps[3] != 4 || steps[4] != 5 {
		t.Fatalf("metrics steps %v, want %v", steps, want)
	}
	out := filepath.Join(t.TempDir(), "s.png")
	if err := run(ctx, []string{"sample", "--run", dir, "--n", "3", "--interpolate", "4", "--out", out}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 4*34+2 || b.Dy() != 3*34+2 {
		t.Fatalf("interpolation grid is %dx%d, want 4 columns × 3 rows of 32px tiles", b.Dx(), b.Dy())
	}
}

func TestBadArguments(t *testing.T) {
	ctx := context.Background()
	cases := [][]string{
		{"train", "--res", "48", "--steps", "1", "--out", t.TempDir()},
		{"train", "--dataset", "builtin:nope", "--steps", "1", "--out", t.TempDir()},
		{"train", "--dataset", filepath.Join(t.TempDir(), "missing.zip"), "--steps", "1", "--out", t.TempDir()},
		{"train", "--resume", t.TempDir()},
		{"train", "--steps", "0"},
		{"sample"},
		{"frobnicate"},
	}
	for _, c := range cases {
		if err := run(ctx, c); err == nil {
			t.Errorf("%s: no error", strings.Join(c, " "))
		}
	}
}

// Ctrl-C (a cancelled context) saves a checkpoint and exits cleanly, so the
// run can be resumed.
func TestTrainCancelSavesCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, []string{"train", "--dataset", "builtin:shapes", "--preset", "tiny", "--batch", "4",
		"--steps", "50", "--out", dir, "--eval-every", "0"})
	if err != nil {
		t.Fatalf("cancelled run returned %v, want a clean stop", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint.gob")); err != nil {
		t.Fatalf("no checkpoint after cancel: %v", err)
	}
	if err := run(context.Background(), []string{"train", "--resume", dir, "--steps", "2", "--eval-every", "0"}); err != nil {
		t.Fatal(err)
	}
}
