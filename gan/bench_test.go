package gan

import (
	"context"
	"testing"
)

// BenchmarkStepRef32 measures one training step (D then G) of the reference
// network at batch 64; `ganstudio bench` reports the same with medians.
func BenchmarkStepRef32(b *testing.B) {
	tr, err := NewTrainer(DefaultConfig(), noiseSource{32})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tr.TrainStep(ctx); err != nil { // warm-up: buffers are allocated on first use
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.TrainStep(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(DefaultConfig().StepFLOPs()/1e9*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
}
