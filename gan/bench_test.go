package gan

import (
	"context"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// BenchmarkStepRef32 measures one training step (D then G) of the reference
// network at batch 64; `ganstudio bench` reports the same with medians.
func BenchmarkStepRef32(b *testing.B) {
	tr, err := NewTrainer(spec.DefaultConfig(), noiseSource{32})
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
	b.ReportMetric(StepFLOPs(spec.DefaultConfig())/1e9*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
}

// BenchmarkStepRef32Feedback is the same step with ratings steering it at
// weight 1 (liked images in the real batch, a disliked batch, the rating
// model's loss): compare with BenchmarkStepRef32 in the same run.
func BenchmarkStepRef32Feedback(b *testing.B) {
	cfg := spec.DefaultConfig()
	tr, err := NewTrainer(cfg, noiseSource{32})
	if err != nil {
		b.Fatal(err)
	}
	var liked, disliked [][]float32
	for i := 0; i < 40; i++ {
		img := make([]float32, 3*32*32)
		noiseSource{32}.Image(i, img)
		if i%2 == 0 {
			liked = append(liked, img)
		} else {
			disliked = append(disliked, img)
		}
	}
	m, err := FitRatingModel(liked, disliked, 32)
	if err != nil {
		b.Fatal(err)
	}
	if err := tr.SetFeedback(&Feedback{Liked: liked, Disliked: disliked, Weight: 1, Methods: DefaultMethods, Model: m}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tr.TrainStep(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.TrainStep(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
