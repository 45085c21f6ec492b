package gan

import (
	"runtime"
	"testing"
	"weak"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// TestClosedTrainerIsCollected: a trainer loaded, used and closed must be
// garbage once dropped. gorgonia's tape machines carry finalizers, and
// without Close a trainer stayed reachable for good (the studio grew by
// ~90 MB per "generate" of a ref32 checkpoint).
func TestClosedTrainerIsCollected(t *testing.T) {
	cfg, _ := spec.Preset("tiny")
	tr, err := NewTrainer(cfg, noiseSource{32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Generator().Generate(RandomLatents(2, cfg.ZDim, 1)); err != nil {
		t.Fatal(err)
	}
	probe := weak.Make(tr.G)
	tr.Close()
	tr = nil
	for i := 0; i < 4 && probe.Value() != nil; i++ {
		runtime.GC()
	}
	if probe.Value() != nil {
		t.Fatal("a closed trainer's generator is still reachable after garbage collection")
	}
}
