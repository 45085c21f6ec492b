package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// augCases are transforms with every stage on, alone and together, with
// shifts and cuts reaching past the edges.
var augCases = []struct {
	name string
	p    AugParams
}{
	{"identity", NoAug},
	{"brightness", AugParams{Bright: 0.3, Sat: 1, Contrast: 1}},
	{"saturation", AugParams{Sat: 1.7, Contrast: 1}},
	{"contrast", AugParams{Sat: 1, Contrast: 0.6}},
	{"translation", AugParams{Sat: 1, Contrast: 1, TX: 2, TY: -3}},
	{"cutout at an edge", AugParams{Sat: 1, Contrast: 1, CutX0: 0, CutY0: 3, CutX1: 4, CutY1: 8}},
	{"all", AugParams{Bright: -0.2, Sat: 0.4, Contrast: 1.3, TX: -1, TY: 1, CutX0: 2, CutY0: 0, CutX1: 6, CutY1: 3}},
}

func augInput(n, side int) []float32 {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*3*side*side)
	for i := range x {
		x[i] = float32(2*r.Float64() - 1)
	}
	return x
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// The backward pass is the forward pass's adjoint: ⟨T(x) − T(0), y⟩ =
// ⟨x, Tᵀ(y)⟩ for any x and y (T is affine: brightness adds a constant).
func TestAugmentBackwardIsAdjoint(t *testing.T) {
	const n, side = 2, 8
	for _, tc := range augCases {
		t.Run(tc.name, func(t *testing.T) {
			ps := []AugParams{tc.p, NoAug}
			x, y := augInput(n, side), augInput(n, side)
			for i := range y {
				y[i] = -y[i] * 0.7
			}
			tx, t0, ty := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
			AugForward(x, tx, n, side, side, ps)
			AugForward(make([]float32, len(x)), t0, n, side, side, ps)
			for i := range tx {
				tx[i] -= t0[i]
			}
			AugBackward(y, ty, n, side, side, ps)
			a, b := dot(tx, y), dot(x, ty)
			if math.Abs(a-b) > 1e-4*(1+math.Abs(a)) {
				t.Fatalf("⟨T(x)−T(0), y⟩ = %g but ⟨x, Tᵀy⟩ = %g", a, b)
			}
		})
	}
}

// Through a graph, the op's gradient matches central differences (the
// generator's step trains through it).
func TestAugmentGradient(t *testing.T) {
	for _, tc := range augCases {
		aug := &Aug{P: []AugParams{tc.p, augCases[len(augCases)-1].p}}
		x := tensor.New(tensor.WithShape(2, 3, 8, 8), tensor.WithBacking(augInput(2, 8)))
		gradCheck(t, "augment "+tc.name, 1e-2, []*tensor.Dense{x}, func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Augment(in[0], aug, true)
		})
	}
}

// What should be invertible is: colour by the inverse factors applied in
// reverse order, a translation by the opposite shift (inside the window
// that stayed in the image), and the identity at strength 0.
func TestAugmentInvertible(t *testing.T) {
	const n, side = 1, 8
	x := augInput(n, side)
	apply := func(in []float32, p AugParams) []float32 {
		out := make([]float32, len(in))
		AugForward(in, out, n, side, side, []AugParams{p})
		return out
	}
	id := apply(x, NoAug)
	for i := range x {
		if id[i] != x[i] {
			t.Fatalf("identity changed value %d: %g → %g", i, x[i], id[i])
		}
	}
	col := apply(x, AugParams{Bright: 0.25, Sat: 1.6, Contrast: 0.7})
	back := apply(apply(apply(col, AugParams{Sat: 1, Contrast: 1 / 0.7}), AugParams{Sat: 1 / 1.6, Contrast: 1}), AugParams{Bright: -0.25, Sat: 1, Contrast: 1})
	for i := range x {
		if math.Abs(float64(back[i]-x[i])) > 1e-5 {
			t.Fatalf("colour not inverted at %d: %g → %g", i, x[i], back[i])
		}
	}
	const tx, ty = 2, -1
	shifted := apply(apply(x, AugParams{Sat: 1, Contrast: 1, TX: tx, TY: ty}), AugParams{Sat: 1, Contrast: 1, TX: -tx, TY: -ty})
	for c := 0; c < 3; c++ {
		for h := 0; h < side; h++ {
			for w := 0; w < side; w++ {
				i := (c*side+h)*side + w
				inside := h+ty >= 0 && h+ty < side && w+tx >= 0 && w+tx < side
				if inside && shifted[i] != x[i] {
					t.Fatalf("translation not undone at (%d,%d,%d): %g → %g", c, h, w, x[i], shifted[i])
				}
				if !inside && shifted[i] != 0 {
					t.Fatalf("pixel (%d,%d,%d) shifted out and back is %g, want 0", c, h, w, shifted[i])
				}
			}
		}
	}
}
