package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// The losses' values and gradients on logits chosen on both sides of the
// hinge's margins, against the formulas written out by hand.
func TestLosses(t *testing.T) {
	real := []float32{-2, -0.5, 0.3, 1.5}
	fake := []float32{-1.5, -0.2, 0.4, 2}
	n := float64(len(real))
	relu := func(x float64) float64 { return max(x, 0) }
	step := func(x float64) float64 {
		if x > 0 {
			return 1
		}
		return 0
	}
	sp := func(x float64) float64 { return math.Log1p(math.Exp(x)) }
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for _, c := range []struct {
		kind string
		// Per logit: D's loss and its derivative on a real and on a
		// generated logit; G's loss and its derivative on a generated one.
		dReal, dRealGrad, dFake, dFakeGrad, g, gGrad func(x float64) float64
	}{
		{spec.LossNS,
			func(x float64) float64 { return sp(-x) }, func(x float64) float64 { return -sig(-x) },
			sp, sig,
			func(x float64) float64 { return sp(-x) }, func(x float64) float64 { return -sig(-x) }},
		{spec.LossHinge,
			func(x float64) float64 { return relu(1 - x) }, func(x float64) float64 { return -step(1 - x) },
			func(x float64) float64 { return relu(1 + x) }, func(x float64) float64 { return step(1 + x) },
			func(x float64) float64 { return -x }, func(float64) float64 { return -1 }},
	} {
		t.Run(c.kind, func(t *testing.T) {
			var wantD, wantG float64
			for i := range real {
				wantD += (c.dReal(float64(real[i])) + c.dFake(float64(fake[i]))) / n
				wantG += c.g(float64(fake[i])) / n
			}
			gotD, grads := lossAndGrads(t, func(r, f *gorgonia.Node) (*gorgonia.Node, error) {
				return DiscriminatorLossOf(c.kind, r, f)
			}, real, fake)
			if math.Abs(gotD-wantD) > 1e-5 {
				t.Errorf("D's loss %g, want %g", gotD, wantD)
			}
			checkGrads(t, "D: d/d real", grads[0], real, func(x float64) float64 { return c.dRealGrad(x) / n })
			checkGrads(t, "D: d/d fake", grads[1], fake, func(x float64) float64 { return c.dFakeGrad(x) / n })
			gotG, grads := lossAndGrads(t, func(_, f *gorgonia.Node) (*gorgonia.Node, error) {
				return GeneratorLossOf(c.kind, f)
			}, real, fake)
			if math.Abs(gotG-wantG) > 1e-5 {
				t.Errorf("G's loss %g, want %g", gotG, wantG)
			}
			checkGrads(t, "G: d/d fake", grads[1], fake, func(x float64) float64 { return c.gGrad(x) / n })
		})
	}
	if _, err := DTerm("wasserstein", nil, true); err == nil {
		t.Error("an unknown loss was accepted")
	}
}

// checkGrads compares each logit's gradient with want(logit).
func checkGrads(t *testing.T, what string, got, logits []float32, want func(x float64) float64) {
	t.Helper()
	for i, x := range logits {
		if w := want(float64(x)); math.Abs(float64(got[i])-w) > 1e-6 {
			t.Errorf("%s[%d] = %g, want %g", what, i, got[i], w)
		}
	}
}

// lossAndGrads runs loss(real, fake) and returns its value and its
// gradients with respect to both (zero where it does not depend on one).
func lossAndGrads(t *testing.T, loss func(r, f *gorgonia.Node) (*gorgonia.Node, error), real, fake []float32) (float64, [2][]float32) {
	t.Helper()
	g := gorgonia.NewGraph()
	var nodes [2]*gorgonia.Node
	for i, v := range [][]float32{real, fake} {
		nodes[i] = Input(g, []string{"real", "fake"}[i], tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(append([]float32(nil), v...))))
	}
	l, err := loss(nodes[0], nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	// The generator's loss does not reach the real logits: add them with
	// weight zero so both have a gradient to read.
	s, err := gorgonia.Sum(nodes[0])
	if err == nil {
		s, err = gorgonia.Mul(s, gorgonia.NewConstant(float32(0)))
	}
	if err == nil {
		l, err = gorgonia.Add(l, s)
	}
	if err != nil {
		t.Fatal(err)
	}
	v, grads := runGrads(t, "loss", g, l, nodes[:])
	return v, [2][]float32{grads[0], grads[1]}
}
