package gan

import (
	"context"
	"testing"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// The engine must learn: after a few hundred steps on the coloured-shapes
// dataset, the SWD between generated and real images falls well below its
// value for the untrained generator.
func TestTrainingLearnsShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for about a minute")
	}
	ds := datasets.Shapes(2048, 32, 1)
	cfg, _ := spec.Preset("tiny")
	cfg.Width = 0.5
	tr, err := NewTrainer(cfg, ds)
	if err != nil {
		t.Fatal(err)
	}
	before, err := tr.Quality()
	if err != nil {
		t.Fatal(err)
	}
	floor, err := QualityFloor(ds)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := 0; i < n; i++ {
		if _, err := tr.TrainStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	after, err := tr.Quality()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SWD at step 0: %.1f, at step %d: %.1f, real-vs-real floor %.1f", before.Mean, n, after.Mean, floor.Mean)
	if !(after.Mean < 0.6*before.Mean) || !(floor.Mean < after.Mean) {
		t.Fatalf("SWD went from %.1f to %.1f (floor %.1f): want a fall of at least 40%%", before.Mean, after.Mean, floor.Mean)
	}
}
