package gan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

func tinyTrainer(t *testing.T, seed uint64) *Trainer {
	t.Helper()
	cfg, _ := spec.Preset("tiny")
	cfg.Batch = 8
	cfg.Seed = seed
	tr, err := NewTrainer(cfg, noiseSource{32})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func steps(t *testing.T, tr *Trainer, n int) []spec.Stats {
	t.Helper()
	var out []spec.Stats
	for i := 0; i < n; i++ {
		st, err := tr.TrainStep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a := steps(t, tinyTrainer(t, 5), 4)
	b := steps(t, tinyTrainer(t, 5), 4)
	c := steps(t, tinyTrainer(t, 6), 4)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: %+v vs %+v with the same seed", i+1, a[i], b[i])
		}
	}
	if a[0] == c[0] {
		t.Fatal("different seeds gave the same first step")
	}
}

// Saving, loading and going on must give exactly the losses of a run that
// never stopped.
func TestCheckpointExactResume(t *testing.T) {
	straight := tinyTrainer(t, 9)
	want := steps(t, straight, 6)

	first := tinyTrainer(t, 9)
	steps(t, first, 3)
	path := filepath.Join(t.TempDir(), "ck.gob")
	if err := first.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	resumed, err := LoadCheckpoint(path, noiseSource{32})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Step() != 3 {
		t.Fatalf("resumed at step %d, want 3", resumed.Step())
	}
	got := steps(t, resumed, 3)
	for i := range got {
		if got[i] != want[3+i] {
			t.Fatalf("step %d after resume: %+v, uninterrupted run had %+v", got[i].Step, got[i], want[3+i])
		}
	}
	// The grid comes from the same latents and weights.
	g1, _ := straight.Generator().Generate(straight.FixedLatents()[:straight.cfg.ZDim])
	g2, _ := resumed.Generator().Generate(resumed.FixedLatents()[:resumed.cfg.ZDim])
	for i := range g1[0] {
		if g1[0][i] != g2[0][i] {
			t.Fatal("grid image differs after resume")
		}
	}
	// No temporary files are left beside the checkpoint.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d files, want only the checkpoint", len(entries))
	}
}

func TestCheckpointRejectsBadInput(t *testing.T) {
	tr := tinyTrainer(t, 1)
	var buf bytes.Buffer
	if err := tr.WriteCheckpoint(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if _, err := ReadCheckpoint(bytes.NewReader(data[:len(data)/2]), noiseSource{32}); err == nil {
		t.Error("truncated checkpoint accepted")
	}
	if _, err := ReadCheckpoint(bytes.NewReader(data), noiseSource{64}); err == nil {
		t.Error("checkpoint accepted for a 64×64 dataset")
	}
	if _, err := LoadCheckpoint(filepath.Join(t.TempDir(), "missing"), noiseSource{32}); err == nil {
		t.Error("missing file accepted")
	}
}

func TestSaveCheckpointFailsCleanly(t *testing.T) {
	tr := tinyTrainer(t, 1)
	if err := tr.SaveCheckpoint(filepath.Join(t.TempDir(), "no", "such", "dir", "ck.gob")); err == nil {
		t.Fatal("saving into a missing folder succeeded")
	}
}

// Sharing the generator's forward pass between the D and G steps must not
// change a single bit of training.
func TestSharedForwardIsExact(t *testing.T) {
	a, b := tinyTrainer(t, 4), tinyTrainer(t, 4)
	b.noShare = true
	hits := nn.SharedHits()
	sa := steps(t, a, 3)
	if nn.SharedHits() == hits {
		t.Fatal("no layer output was shared")
	}
	hits = nn.SharedHits()
	sb := steps(t, b, 3)
	if nn.SharedHits() != hits {
		t.Fatal("layers were shared with sharing off")
	}
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("step %d: %+v with sharing, %+v without", i+1, sa[i], sb[i])
		}
	}
	for i, p := range a.G.Params {
		pa, pb := nn.F32(p), nn.F32(b.G.Params[i])
		for j := range pa {
			if pa[j] != pb[j] {
				t.Fatalf("%s differs after 3 steps", a.G.Names[i])
			}
		}
	}
	for k, r := range a.G.Running {
		for j := range r.Var {
			if r.Var[j] != b.G.Running[k].Var[j] || r.Mean[j] != b.G.Running[k].Mean[j] {
				t.Fatalf("running statistics of %s differ", k)
			}
		}
	}
}

func TestInterpolateEndpoints(t *testing.T) {
	a, b := RandomLatents(1, 16, 1), RandomLatents(1, 16, 2)
	path := Interpolate(a, b, 5)
	if len(path) != 5*16 {
		t.Fatalf("got %d values", len(path))
	}
	for i := range a {
		if d := path[i] - a[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("first point differs from a at %d", i)
		}
		if d := path[4*16+i] - b[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("last point differs from b at %d", i)
		}
	}
}
