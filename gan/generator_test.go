package gan

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestGeneratorFromCheckpoint: the generator read alone from a checkpoint
// (the earlier build's, in testdata) makes exactly the images the whole
// trainer's generator makes, running statistics included, and keeps the
// checkpoint's step and grid latents.
func TestGeneratorFromCheckpoint(t *testing.T) {
	g, err := LoadGenerator(compatCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tr, err := LoadCheckpoint(compatCheckpoint, compatSource())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if g.Step() != compatSavedAt || g.Config() != tr.Config() || len(g.FixedLatents()) != len(tr.FixedLatents()) {
		t.Fatalf("generator at step %d with %+v, want step %d with %+v", g.Step(), g.Config(), compatSavedAt, tr.Config())
	}
	for i, v := range tr.FixedLatents() {
		if g.FixedLatents()[i] != v {
			t.Fatalf("grid latent %d is %g, the trainer's %g", i, g.FixedLatents()[i], v)
		}
	}
	// More latents than one batch of the eval graph, to cross a boundary.
	z := RandomLatents(sampleBatch+5, g.Config().ZDim, 7)
	a, err := g.Generate(z)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Generator().Generate(z)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(z)/g.Config().ZDim {
		t.Fatalf("%d images for %d latents", len(a), len(z)/g.Config().ZDim)
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("image %d value %d: %g alone, %g from the trainer", i, j, a[i][j], b[i][j])
			}
		}
	}
	// Eval mode: an image depends on its own latent alone.
	one, err := g.Generate(z[:g.Config().ZDim])
	if err != nil {
		t.Fatal(err)
	}
	for j := range one[0] {
		if one[0][j] != a[0][j] {
			t.Fatalf("the first image changed when generated alone (value %d: %g, %g)", j, one[0][j], a[0][j])
		}
	}
	if _, err := g.Generate(z[:3]); err == nil {
		t.Error("latents of the wrong size were accepted")
	}
}

func TestReadGeneratorRejectsBadInput(t *testing.T) {
	data, err := os.ReadFile(compatCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "read checkpoint"},
		{"cut short", data[:len(data)/2], "read checkpoint"},
		{"not a checkpoint", []byte("hello, world"), "read checkpoint"},
	} {
		if _, err := ReadGenerator(bytes.NewReader(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if _, err := LoadGenerator("testdata/missing.gob"); err == nil {
		t.Error("a missing file loaded")
	}
}
