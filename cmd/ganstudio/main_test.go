package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
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

// A run with the studio's parts keeps its best step's checkpoint, and
// sample draws from it with the weight average unless told otherwise.
func TestSampleFromBest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx := context.Background()
	err := run(ctx, []string{"train", "--dataset", "builtin:shapes", "--preset", "tiny", "--batch", "4", "--augment", "0.5",
		"--ema", "500", "--mirror", "on", "--steps", "6", "--out", dir, "--grid-every", "2", "--eval-every", "2"})
	if err != nil {
		t.Fatal(err)
	}
	best, err := gan.LoadGenerator(filepath.Join(dir, "best.gob"))
	if err != nil {
		t.Fatalf("no best checkpoint: %v", err)
	}
	defer best.Close()
	var info runInfo
	raw, _ := os.ReadFile(filepath.Join(dir, "run.json"))
	if err := json.Unmarshal(raw, &info); err != nil || info.Config.EMA != 500 || info.Config.Augment.String() != "0.5" || !info.Config.Mirror {
		t.Fatalf("run.json config %+v (%v): the flags were not kept", info.Config, err)
	}
	draw := func(args ...string) []byte {
		out := filepath.Join(t.TempDir(), "s.png")
		if err := run(ctx, append([]string{"sample", "--run", dir, "--n", "4", "--out", out}, args...)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	imgs, err := best.Generate(gan.RandomLatents(4, info.Config.ZDim, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(t.TempDir(), "want.png")
	if err := writePNG(want, gan.Grid(imgs, info.Config.Res, 8)); err != nil {
		t.Fatal(err)
	}
	wantPNG, _ := os.ReadFile(want)
	if !bytes.Equal(draw(), wantPNG) {
		t.Errorf("sample did not draw from the best step's average (step %d)", best.Step())
	}
	// At the last step the average and the live weights differ (at step 0
	// they are one and the same).
	if bytes.Equal(draw("--from", "latest", "--live"), draw("--from", "latest")) {
		t.Error("--live drew the same images as the average")
	}
	if best.Step() != 6 && bytes.Equal(draw("--from", "latest"), wantPNG) {
		t.Errorf("--from latest drew the best step's (%d) images", best.Step())
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
		{"sample", "--run", t.TempDir(), "--from", "worst"},
		{"train", "--augment", "always", "--steps", "1", "--out", t.TempDir()},
		{"train", "--augment", "1.5", "--steps", "1", "--out", t.TempDir()},
		{"train", "--mirror", "yes", "--steps", "1", "--out", t.TempDir()},
		{"train", "--ema", "-5", "--steps", "1", "--out", t.TempDir()},
		{"train", "--patience", "0", "--steps", "1", "--out", t.TempDir()},
		{"frobnicate"},
		{"bench", "feedback", "--hue-max", "0"},
		{"bench", "feedback", "--methods", "replay,bogus"},
		{"bench", "feedback", "--methods", "all:1,x"},
		{"bench", "feedback", "--dataset", "nope"},
		{"bench", "feedback", "--steps", "0"},
		{"bench", "feedback", "--rules", "hue,nope"},
		{"bench", "feedback", "--budgets", "100 0"},
		{"bench", "feedback", "--weights", "0.5 2"},
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

func TestRaterHue(t *testing.T) {
	const res = 8
	solid := func(r, g, b float32) []float32 {
		img := make([]float32, 3*res*res)
		for i := 0; i < res*res; i++ {
			img[i], img[res*res+i], img[2*res*res+i] = r, g, b
		}
		return img
	}
	for _, c := range []struct {
		name string
		img  []float32
		want float64
	}{
		{"red", solid(1, -1, -1), 0},
		{"yellow", solid(1, 1, -1), 60},
		{"blue", solid(-1, -1, 1), 120},
		{"magenta", solid(1, -1, 1), 60},
		{"grey: no hue", solid(0, 0, 0), 180},
		{"white: no hue", solid(1, 1, 1), 180},
	} {
		if got := hueFromRed(c.img, res); got < c.want-0.5 || got > c.want+0.5 {
			t.Errorf("%s: %.1f° from red, want %g", c.name, got, c.want)
		}
	}
}

// A tiny bench feedback gives its JSON report: a cell per rule, each with
// its budget spent on the snapshot's samples and a rating session.
func TestBenchFeedbackJSON(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	grids := t.TempDir()
	err = run(context.Background(), []string{"bench", "feedback", "--base", "2", "--steps", "4", "--snapshot-every", "2",
		"--budgets", "11", "--weights", "1", "--rules", "hue left", "--json", "--grids", grids})
	os.Stdout = stdout
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var rep feedbackReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Seeds) != 1 || len(rep.Seeds[0].Cells) != 2 || len(rep.Summary) != 2 || len(rep.Rules) != 2 {
		t.Fatalf("report %+v", rep)
	}
	// One round (at the checkpoint): 8 snapshot samples, then a session of 3.
	for _, c := range rep.Seeds[0].Cells {
		if c.Ratings != 11 || c.Sessions != 3 || c.Budget != 11 || c.After.SWDLiked <= 0 {
			t.Errorf("cell %+v", c)
		}
	}
	for _, name := range []string{"seed1-before.png", "seed1-none.png", "seed1-hue-11-1-replay+negatives+model.png", "seed1-left-11-1-replay+negatives+model.png"} {
		f, err := os.Open(filepath.Join(grids, name))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("grid %s: %v", name, err)
		} else if img.Bounds().Dx() != 8*34+2 {
			t.Errorf("grid %s is %d wide; want 8 samples of 32 px with 2 px gutters", name, img.Bounds().Dx())
		}
	}
	for _, rl := range rep.Rules {
		if rl.RealShare < 0.2 || rl.RealShare > 0.4 {
			t.Errorf("rule %s likes %.2f of the shapes, want a quarter to a third", rl.Name, rl.RealShare)
		}
	}
}

// TestTrainRepairsCollapse: a run made to collapse from the command line
// is repaired as in the studio. The verdict is forced (a real collapse
// cannot be made to order in a few steps, as in the worker's test):
// collapsed at steps 40 and 50 confirms a collapse, the run goes back to
// the last healthy check (step 30) with a remedy, trains those steps
// again, and finishes.
func TestTrainRepairsCollapse(t *testing.T) {
	collapsed := map[int]bool{40: true, 50: true}
	tries := 0
	testVerdict = func(step int, h spec.HealthReport) spec.HealthReport {
		if collapsed[step] && tries == 0 {
			h.Level, h.Reason = spec.Collapsed, "forced by the test"
			if step == 50 {
				tries++
			}
		} else {
			h.Level, h.Reason = spec.Healthy, ""
		}
		return h
	}
	defer func() { testVerdict = nil }()
	dir := filepath.Join(t.TempDir(), "run")
	err := run(context.Background(), []string{"train", "--dataset", "builtin:shapes", "--preset", "tiny", "--batch", "4",
		"--steps", "70", "--snapshot-every", "10", "--collapse-warmup", "20", "--eval-every", "0", "--out", dir})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	events := string(raw)
	for _, want := range []string{"Signs of mode collapse at step 40", "Mode collapse at step 50: forced by the test. Rolling back to step 30 (try 1 of 3).", "Remedy: ", "Finished 70 steps."} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
	// Steps 31–50 were trained again: each step appears once, in order.
	steps, _ := countSteps(t, filepath.Join(dir, "metrics.jsonl"))
	if len(steps) != 70 || steps[30] != 31 || steps[69] != 70 {
		t.Errorf("metrics hold %d steps (%v…), want 1–70 once each", len(steps), steps[:min(len(steps), 5)])
	}
	for i, s := range steps {
		if s != i+1 {
			t.Fatalf("metrics line %d is step %d", i, s)
		}
	}
	// The remedy is in the checkpoints: the generator's rate was quartered.
	g, err := gan.LoadGenerator(filepath.Join(dir, "checkpoint.gob"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	base, _ := spec.Preset("tiny")
	if g.Step() != 70 || g.Config().LRG != base.LRG/4 {
		t.Errorf("checkpoint at step %d with G's rate %g, want step 70 and %g", g.Step(), g.Config().LRG, base.LRG/4)
	}
	var guard spec.Guard
	if raw, err := os.ReadFile(filepath.Join(dir, "guard.json")); err != nil || json.Unmarshal(raw, &guard) != nil || guard.Tries != 1 || guard.LastHealthy != 70 {
		t.Errorf("guard %+v (%v), want one try and the last healthy check at 70", guard, err)
	}
	for _, f := range []string{"grid-000000.png", "grid-000070.png", "samples-000010.png", "samples-000070.png", "healthy.gob"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}
