package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// randDense makes a float32 tensor of N(0,1) values.
func randDense(r *rand.Rand, shape ...int) *tensor.Dense {
	t := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
	for i := range F32(t) {
		F32(t)[i] = float32(r.NormFloat64())
	}
	return t
}

// gradCheck builds loss = Σ w ⊙ f(inputs) for a fixed random w, takes
// gorgonia's gradients with respect to every input, and compares them with
// central differences at random coordinates.
func gradCheck(t *testing.T, name string, eps float64, inputs []*tensor.Dense, f func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error)) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	var loss func() (float64, [][]float32)
	var w *tensor.Dense
	loss = func() (float64, [][]float32) {
		g := gorgonia.NewGraph()
		nodes := make([]*gorgonia.Node, len(inputs))
		for i, in := range inputs {
			nodes[i] = Input(g, fmt.Sprintf("in%d", i), in)
		}
		out, err := f(g, nodes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w == nil {
			w = randDense(r, out.Shape().Clone()...)
		}
		prod, err := gorgonia.HadamardProd(out, Input(g, "w", w))
		if err != nil {
			t.Fatal(err)
		}
		l, err := gorgonia.Sum(prod)
		if err != nil {
			t.Fatal(err)
		}
		return runGrads(t, name, g, l, nodes)
	}
	_, grads := loss()
	for i, in := range inputs {
		data := F32(in)
		for k := 0; k < 12; k++ {
			j := r.IntN(len(data))
			old := data[j]
			hi, lo := old+float32(eps), old-float32(eps)
			data[j] = hi
			lp, _ := loss()
			data[j] = lo
			lm, _ := loss()
			data[j] = old
			num := (lp - lm) / float64(hi-lo)
			got := float64(grads[i][j])
			if math.Abs(num-got) > 0.03*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: d/d input%d[%d]: backprop %.5f, numeric %.5f", name, i, j, got, num)
			}
		}
	}
}

// runGrads runs graph g and returns the scalar l and its gradients with
// respect to nodes.
func runGrads(t *testing.T, name string, g *gorgonia.ExprGraph, l *gorgonia.Node, nodes []*gorgonia.Node) (float64, [][]float32) {
	t.Helper()
	if _, err := gorgonia.Grad(l, nodes...); err != nil {
		t.Fatalf("%s: grad: %v", name, err)
	}
	var lv gorgonia.Value
	gorgonia.Read(l, &lv)
	vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(nodes...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("%s: run: %v", name, err)
	}
	grads := make([][]float32, len(nodes))
	for i, n := range nodes {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		grads[i] = append([]float32(nil), F32(gv)...)
	}
	return Scalar(lv), grads
}

func scaled(t *tensor.Dense, k float32) *tensor.Dense {
	for i := range F32(t) {
		F32(t)[i] *= k
	}
	return t
}

func ones(n int) *tensor.Dense {
	t := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n))
	for i := range F32(t) {
		F32(t)[i] = 1 + 0.1*float32(i)
	}
	return t
}

func TestOpGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name   string
		eps    float64 // finite-difference step; 0 means 1e-2
		inputs []*tensor.Dense
		f      func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error)
	}{
		{"conv stride 1", 0, []*tensor.Dense{randDense(r, 3, 4, 6, 5), randDense(r, 5, 4, 3, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(in[0], in[1], 1, 1, Grads{Input: true, Params: true}, nil)
			}},
		{"conv stride 2", 0, []*tensor.Dense{randDense(r, 3, 4, 8, 8), randDense(r, 5, 4, 3, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(in[0], in[1], 2, 1, Grads{Input: true, Params: true}, nil)
			}},
		{"batch norm", 0, []*tensor.Dense{randDense(r, 4, 3, 5, 5), randDense(r, 3), randDense(r, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return BatchNorm(in[0], in[1], in[2], BNOptions{Slope: 1}, Grads{Input: true, Params: true}, nil)
			}},
		// γ near 1 and a small step keep the finite differences from
		// straddling the rectifier's kink, where they say nothing.
		{"batch norm + ReLU", 5e-4, []*tensor.Dense{randDense(r, 4, 3, 5, 5), ones(3), randDense(r, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return BatchNorm(in[0], in[1], in[2], BNOptions{Slope: 0}, Grads{Input: true, Params: true}, nil)
			}},
		{"batch norm + leaky ReLU", 5e-4, []*tensor.Dense{randDense(r, 4, 3, 5, 5), ones(3), randDense(r, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return BatchNorm(in[0], in[1], in[2], BNOptions{Slope: 0.2}, Grads{Input: true, Params: true}, nil)
			}},
		{"leaky relu", 5e-4, []*tensor.Dense{randDense(r, 2, 3, 4, 4)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return LeakyReLU(in[0], 0.2, nil)
			}},
		{"upsample + conv", 0, []*tensor.Dense{randDense(r, 2, 3, 4, 5), randDense(r, 4, 3, 3, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return UpConv2d(in[0], in[1], Grads{Input: true, Params: true}, nil)
			}},
		{"upsample", 0, []*tensor.Dense{randDense(r, 2, 3, 4, 4)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return upsample2x(in[0], nil)
			}},
		{"bias 4-D", 0, []*tensor.Dense{randDense(r, 2, 3, 4, 4), randDense(r, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return AddBias(in[0], in[1], Grads{Input: true, Params: true}, nil)
			}},
		{"minibatch stddev", 0, []*tensor.Dense{randDense(r, 4, 3, 2, 2)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return MinibatchStddev(in[0], Grads{Input: true})
			}},
		// The appended channel alone, on inputs of spread near 0.3: its
		// gradient is small beside the channels passed through, and this
		// checks it on its own.
		{"minibatch stddev's channel", 0, []*tensor.Dense{scaled(randDense(r, 4, 3, 2, 2), 0.3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				y, err := MinibatchStddev(in[0], Grads{Input: true})
				if err != nil {
					return nil, err
				}
				return gorgonia.Slice(y, nil, gorgonia.S(3))
			}},
		{"bias 2-D", 0, []*tensor.Dense{randDense(r, 5, 3), randDense(r, 3)},
			func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return AddBias(in[0], in[1], Grads{Input: true, Params: true}, nil)
			}},
	}
	for _, c := range cases {
		eps := c.eps
		if eps == 0 {
			eps = 1e-2
		}
		t.Run(c.name, func(t *testing.T) { gradCheck(t, c.name, eps, c.inputs, c.f) })
	}
}

// forward runs op(x, w) on a fresh graph and returns its output.
func forward(t *testing.T, x, w *tensor.Dense, op func(x, w *gorgonia.Node) (*gorgonia.Node, error)) gorgonia.Value {
	t.Helper()
	g := gorgonia.NewGraph()
	y, err := op(Input(g, "x", x), Input(g, "w", w))
	if err != nil {
		t.Fatal(err)
	}
	var out gorgonia.Value
	gorgonia.Read(y, &out)
	if err := gorgonia.NewTapeMachine(g).RunAll(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The convolution must equal the textbook sum, at both strides, including
// the borders where padding reads zeros.
func TestConvForwardMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, c := range []struct{ stride, h, w int }{{1, 7, 6}, {2, 7, 6}, {2, 8, 6}} {
		stride, h, wd := c.stride, c.h, c.w
		x, w := randDense(r, 2, 3, h, wd), randDense(r, 4, 3, 3, 3)
		out := forward(t, x, w, func(x, w *gorgonia.Node) (*gorgonia.Node, error) {
			return Conv2d(x, w, stride, 1, Grads{}, nil)
		})
		s := out.Shape()
		xs, ws, ys := F32(x), F32(w), F32(out)
		for n := 0; n < s[0]; n++ {
			for o := 0; o < s[1]; o++ {
				for oy := 0; oy < s[2]; oy++ {
					for ox := 0; ox < s[3]; ox++ {
						var want float64
						for c := 0; c < 3; c++ {
							for i := 0; i < 3; i++ {
								for j := 0; j < 3; j++ {
									iy, ix := oy*stride-1+i, ox*stride-1+j
									if iy >= 0 && iy < h && ix >= 0 && ix < wd {
										want += float64(xs[((n*3+c)*h+iy)*wd+ix]) * float64(ws[((o*3+c)*3+i)*3+j])
									}
								}
							}
						}
						got := ys[((n*s[1]+o)*s[2]+oy)*s[3]+ox]
						if math.Abs(float64(got)-want) > 1e-4 {
							t.Fatalf("stride %d: y[%d,%d,%d,%d] = %g, want %g", stride, n, o, oy, ox, got, want)
						}
					}
				}
			}
		}
	}
}

// The up-convolution must equal upsample ×2 followed by a 3×3 convolution.
func TestUpConvMatchesUpsampleThenConv(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	x, w := randDense(r, 3, 4, 5, 6), randDense(r, 7, 4, 3, 3)
	run := func(f func(x, w *gorgonia.Node) (*gorgonia.Node, error)) []float32 {
		out := forward(t, x, w, f)
		if !out.Shape().Eq(tensor.Shape{3, 7, 10, 12}) {
			t.Fatalf("shape %v", out.Shape())
		}
		return F32(out)
	}
	want := run(func(x, w *gorgonia.Node) (*gorgonia.Node, error) {
		u, err := upsample2x(x, nil)
		if err != nil {
			return nil, err
		}
		return Conv2d(u, w, 1, 1, Grads{}, nil)
	})
	got := run(func(x, w *gorgonia.Node) (*gorgonia.Node, error) {
		return UpConv2d(x, w, Grads{}, nil)
	})
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("value %d: %g, want %g", i, got[i], want[i])
		}
	}
}

// TestMinibatchStddev checks the appended channel against the definition
// written out here: a batch of copies gives (almost) 0, a varied batch the
// mean over features and places of their spread across the batch, and the
// image channels pass through unchanged.
func TestMinibatchStddev(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	varied := randDense(r, 5, 2, 3, 3)
	copies := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(5, 2, 3, 3))
	for i := range F32(copies) {
		F32(copies)[i] = F32(varied)[i%18]
	}
	for _, c := range []struct {
		name string
		x    *tensor.Dense
	}{{"varied", varied}, {"copies", copies}} {
		t.Run(c.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			y, err := MinibatchStddev(Input(g, "x", c.x), Grads{})
			if err != nil {
				t.Fatal(err)
			}
			var yv gorgonia.Value
			gorgonia.Read(y, &yv)
			vm := gorgonia.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			if got := yv.Shape(); !got.Eq(tensor.Shape{5, 3, 3, 3}) {
				t.Fatalf("shape %v, want [5 3 3 3]", got)
			}
			x, out := F32(c.x), F32(yv)
			want := 0.0
			for j := 0; j < 18; j++ {
				var m, v float64
				for i := 0; i < 5; i++ {
					m += float64(x[i*18+j]) / 5
				}
				for i := 0; i < 5; i++ {
					d := float64(x[i*18+j]) - m
					v += d * d / 5
				}
				want += math.Sqrt(v+MBStdEps) / 18
			}
			for i := 0; i < 5; i++ {
				for j := 0; j < 18; j++ {
					if out[i*27+j] != x[i*18+j] {
						t.Fatalf("image %d feature %d: %v, want the input's %v", i, j, out[i*27+j], x[i*18+j])
					}
				}
				for k := 18; k < 27; k++ {
					if math.Abs(float64(out[i*27+k])-want) > 1e-5 {
						t.Fatalf("image %d appended %d: %v, want %v", i, k, out[i*27+k], want)
					}
				}
			}
			if c.name == "copies" && want > 1e-3 {
				t.Fatalf("a batch of copies has spread %v", want)
			}
			if c.name == "varied" && want < 0.3 {
				t.Fatalf("a batch of normal noise has spread %v, want near 0.8", want)
			}
		})
	}
}
