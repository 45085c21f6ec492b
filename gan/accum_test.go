package gan

import (
	"testing"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// Running a graph twice on the same inputs must give the same gradients:
// nothing may accumulate across runs.
func TestGradientsDoNotAccumulate(t *testing.T) {
	cfg, _ := spec.Preset("tiny")
	tr, err := NewTrainer(cfg, noiseSource{32})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*nn.Step{tr.dStep, tr.gStep} {
		g1, err := s.Run()
		if err != nil {
			t.Fatal(err)
		}
		first := make([][]float32, len(g1))
		for i := range g1 {
			first[i] = append([]float32(nil), g1[i]...)
		}
		g2, err := s.Run()
		if err != nil {
			t.Fatal(err)
		}
		for i := range g2 {
			for j := range g2[i] {
				if g2[i][j] != first[i][j] {
					t.Fatalf("param %d: gradient %g then %g", i, first[i][j], g2[i][j])
				}
			}
		}
	}
}
