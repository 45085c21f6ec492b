package mixture

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/nn"
)

func smallMLP(seed uint64) MLPConfig {
	c := DefaultMLPConfig()
	c.ZDim, c.Hidden, c.Batch, c.Seed = 5, 7, 6, seed
	return c
}

// lossesAt runs both graphs at the current weights without updating and
// returns (D loss, G loss, D grads, G grads).
func lossesAt(t *testing.T, m *MLPGAN) (float64, float64, [][]float32, [][]float32) {
	t.Helper()
	gd, err := m.dStep.Run()
	if err != nil {
		t.Fatal(err)
	}
	ld := nn.Scalar(m.dStep.Loss)
	gd = cloneGrads(gd)
	gg, err := m.gStep.Run()
	if err != nil {
		t.Fatal(err)
	}
	return ld, nn.Scalar(m.gStep.Loss), gd, cloneGrads(gg)
}

func cloneGrads(g [][]float32) [][]float32 {
	out := make([][]float32, len(g))
	for i := range g {
		out[i] = append([]float32(nil), g[i]...)
	}
	return out
}

// The fused ops' backward passes must agree with central finite differences
// of the losses, for D's parameters in the D graph and G's in the G graph,
// plain and packed (the packed first layer reads rows of 2·m values).
func TestMLPGradients(t *testing.T) {
	for _, tc := range []struct {
		name string
		pack int
	}{{"plain", 1}, {"pack3", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			c := smallMLP(3)
			c.Pack = tc.pack
			m, err := NewMLPGAN(c, Grid25())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			r := rand.New(rand.NewPCG(1, 2))
			Grid25().sampleInto(nn.F32(m.real), r)
			for i := range nn.F32(m.zD) {
				nn.F32(m.zD)[i] = float32(r.NormFloat64())
			}
			copy(nn.F32(m.zG), nn.F32(m.zD))
			_, _, gd, gg := lossesAt(t, m)
			for _, net := range []struct {
				name  string
				n     *gan.Net
				grads [][]float32
				isD   bool
			}{{"D", m.D, gd, true}, {"G", m.G, gg, false}} {
				for pi, p := range net.n.Params {
					w := nn.F32(p)
					for _, j := range []int{0, len(w) / 2, len(w) - 1} {
						const h = 1e-2
						old := w[j]
						w[j] = old + h
						ldp, lgp, _, _ := lossesAt(t, m)
						w[j] = old - h
						ldm, lgm, _, _ := lossesAt(t, m)
						w[j] = old
						num := (lgp - lgm) / (2 * h)
						if net.isD {
							num = (ldp - ldm) / (2 * h)
						}
						got := float64(net.grads[pi][j])
						if math.Abs(got-num) > 2e-3+0.03*math.Abs(num) {
							t.Errorf("%s %s[%d]: backprop %.5f, finite difference %.5f", net.name, net.n.Names[pi], j, got, num)
						}
					}
				}
			}
		})
	}
}

// Restoring a saved state must continue bit for bit as the run it was
// saved from, including after a remedy that the restore undoes.
func TestMLPSaveRestore(t *testing.T) {
	ctx := context.Background()
	m, err := NewMLPGAN(smallMLP(9), Ring8())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := 0; i < 5; i++ {
		if _, err := m.TrainStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, err := m.Save()
	if err != nil {
		t.Fatal(err)
	}
	run := func() []MLPStats {
		var out []MLPStats
		for i := 0; i < 5; i++ {
			st, err := m.TrainStep(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st)
		}
		return out
	}
	first := run()
	if err := (Remedy{Pack: 2, Noise: 0.1, LRG: 5e-4}).Apply(m); err != nil {
		t.Fatal(err)
	}
	run()
	if err := m.Restore(s); err != nil {
		t.Fatal(err)
	}
	if m.Step() != 5 {
		t.Fatalf("step after restore = %d, want 5", m.Step())
	}
	again := run()
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("step %d after restore: %+v, first time %+v", i+6, again[i], first[i])
		}
	}
}

// A short run at a small batch must already spread the samples over the
// grid's modes: the untrained G puts everything near the centre mode.
func TestMLPLearnsGrid(t *testing.T) {
	c := DefaultMLPConfig()
	c.Batch, c.ZDim, c.Hidden, c.Seed = 128, 16, 64, 4
	c.LRD = 1e-3
	mix := Grid25()
	m, err := NewMLPGAN(c, mix)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	z := gan.RandomLatents(1000, c.ZDim, 5)
	before := mix.Score(m.Generate(z))
	for i := 0; i < 1500; i++ {
		if _, err := m.TrainStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	after := mix.Score(m.Generate(z))
	t.Logf("before: %d modes, HQ %.3f; after 1500 steps: %d modes, HQ %.3f", before.Modes, before.HQ, after.Modes, after.HQ)
	if after.Modes < before.Modes+5 {
		t.Errorf("no learning: %d modes, HQ %.3f → %d modes, HQ %.3f", before.Modes, before.HQ, after.Modes, after.HQ)
	}
}

// BenchmarkMLPStep measures one D+G step at the VEEGAN sizes (batch 512,
// z 256, 2×128 tanh).
func BenchmarkMLPStep(b *testing.B) {
	m, err := NewMLPGAN(DefaultMLPConfig(), Grid25())
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if _, err := m.TrainStep(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.TrainStep(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
