package gan

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// checkStep compares a training graph's gradient with a central difference
// of its loss along random directions in parameter space. A directional
// check sums over every parameter, so float32 noise in single coordinates
// averages out while any wrong gradient term still shows.
func checkStep(t *testing.T, name string, s *nn.Step, net *Net) {
	t.Helper()
	grads, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	saved := make([][]float32, len(grads))
	for i := range grads {
		saved[i] = append([]float32(nil), grads[i]...)
	}
	lossAt := func() float64 {
		if _, err := s.Run(); err != nil {
			t.Fatal(err)
		}
		return nn.Scalar(s.Loss)
	}
	if a, b := lossAt(), lossAt(); a != b {
		t.Fatalf("%s: loss is not reproducible: %v then %v", name, a, b)
	}
	r := rand.New(rand.NewPCG(3, 4))
	// One direction over all parameters, then one per parameter tensor.
	for which := -1; which < len(net.Params); which++ {
		dirs := make([][]float32, len(net.Params))
		var want, gn, dn float64
		for i, p := range net.Params {
			dirs[i] = make([]float32, p.DataSize())
			if which >= 0 && i != which {
				continue
			}
			for j := range dirs[i] {
				dirs[i][j] = float32(r.NormFloat64())
				want += float64(dirs[i][j]) * float64(saved[i][j])
				gn += float64(saved[i][j]) * float64(saved[i][j])
				dn += float64(dirs[i][j]) * float64(dirs[i][j])
			}
		}
		const eps = 1e-4
		shift := func(sign float32) {
			for i, p := range net.Params {
				w := nn.F32(p)
				for j := range w {
					w[j] += sign * eps * dirs[i][j]
				}
			}
		}
		orig := make([][]float32, len(net.Params))
		for i, p := range net.Params {
			orig[i] = append([]float32(nil), nn.F32(p)...)
		}
		shift(1)
		lp := lossAt()
		for i, p := range net.Params {
			copy(nn.F32(p), orig[i])
		}
		shift(-1)
		lm := lossAt()
		for i, p := range net.Params {
			copy(nn.F32(p), orig[i])
		}
		got := (lp - lm) / (2 * eps)
		label := "all parameters"
		if which >= 0 {
			label = net.Names[which]
		}
		scale := math.Sqrt(gn * dn)
		// The error is measured against |g||d|: a wrong or missing gradient
		// term shows as an error of that order, while kinks of the
		// rectifiers and float32 rounding stay at a few per cent of it.
		if math.Abs(got-want) > 0.05*scale+1e-3 {
			t.Errorf("%s, %s: directional derivative %.5g by backprop, %.5g numerically (|g||d| = %.4g)", name, label, want, got, scale)
		}
	}
}

func TestNetworkShapesAndGradients(t *testing.T) {
	for _, res := range []int{32, 64} {
		cfg, _ := spec.Preset("tiny")
		cfg.Res, cfg.Batch = res, 8
		tr, err := NewTrainer(cfg, noiseSource{res})
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := tr.Generator().Generate(RandomLatents(3, tr.cfg.ZDim, 1))
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != 3 || len(imgs[0]) != 3*res*res {
			t.Fatalf("res %d: generated %d images of %d values", res, len(imgs), len(imgs[0]))
		}
		for _, v := range imgs[0] {
			if v < -1 || v > 1 || math.IsNaN(float64(v)) {
				t.Fatalf("res %d: pixel %g outside tanh's range", res, v)
			}
		}
		copy(nn.F32(tr.zD), RandomLatents(cfg.Batch, cfg.ZDim, 2))
		copy(nn.F32(tr.zG), nn.F32(tr.zD))
		for i := range nn.F32(tr.real) {
			nn.F32(tr.real)[i] = float32(math.Sin(float64(i)))
		}
		checkStep(t, "D step", tr.dStep, tr.D)
		checkStep(t, "G step", tr.gStep, tr.G)
	}
}
