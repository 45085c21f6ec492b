package gan

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// Net is one network's parameters: named float32 tensors in a fixed order,
// plus running batch-norm statistics. The same tensors back the nodes of
// every graph the network appears in, so an optimiser step on them is seen
// by all graphs at once.
type Net struct {
	Names   []string
	Params  []*tensor.Dense
	Running map[string]*nn.BNRunning
	index   map[string]int
}

// NewNet makes an empty network; Add gives it its parameters in order.
func NewNet() *Net { return &Net{Running: map[string]*nn.BNRunning{}, index: map[string]int{}} }

// Add appends a parameter under its name. NewNet and Add are exported for
// package mixture, whose MLPs are Nets without batch norm.
func (n *Net) Add(name string, t *tensor.Dense) {
	n.index[name] = len(n.Params)
	n.Names = append(n.Names, name)
	n.Params = append(n.Params, t)
}

// normal adds a parameter drawn from N(mean, std²), DCGAN's initialisation.
func (n *Net) normal(rng *rand.Rand, name string, mean, std float64, shape ...int) {
	t := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
	for i := range nn.F32(t) {
		nn.F32(t)[i] = float32(mean + std*rng.NormFloat64())
	}
	n.Add(name, t)
}

func (n *Net) zeros(name string, shape ...int) {
	n.Add(name, tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...)))
}

func (n *Net) bn(rng *rand.Rand, name string, c int, running bool) {
	n.normal(rng, name+".gamma", 1, 0.02, c)
	n.zeros(name+".beta", c)
	if running {
		n.Running[name] = nn.NewBNRunning(c)
	}
}

// CopyParams copies the network's parameters out, in Params order: for a
// checkpoint, a network's state kept aside, a comparison of two steps.
func (n *Net) CopyParams() [][]float32 {
	out := make([][]float32, len(n.Params))
	for i, p := range n.Params {
		out[i] = slices.Clone(nn.F32(p))
	}
	return out
}

// Size is the number of scalar parameters.
func (n *Net) Size() int {
	s := 0
	for _, p := range n.Params {
		s += p.DataSize()
	}
	return s
}

func newGenerator(c spec.Config, rng *rand.Rand) *Net {
	n := NewNet()
	ch := genChannels(c)
	n.normal(rng, "lin.w", 0, 0.02, c.ZDim, ch[0]*16)
	n.bn(rng, "bn0", ch[0], true)
	for i := 1; i < len(ch); i++ {
		n.normal(rng, fmt.Sprintf("conv%d.w", i), 0, 0.02, ch[i], ch[i-1], 3, 3)
		n.bn(rng, fmt.Sprintf("bn%d", i), ch[i], true)
	}
	n.normal(rng, "out.w", 0, 0.02, 3, ch[len(ch)-1], 3, 3)
	n.zeros("out.b", 3)
	return n
}

func newDiscriminator(c spec.Config, rng *rand.Rand) *Net {
	n := NewNet()
	ch := discChannels(c)
	in := 3
	for i, o := range ch {
		n.normal(rng, fmt.Sprintf("conv%d.w", i), 0, 0.02, o, in, 3, 3)
		if i == 0 {
			n.zeros("conv0.b", o)
		} else {
			n.bn(rng, fmt.Sprintf("bn%d", i), o, false)
		}
		in = o
	}
	n.normal(rng, "lin.w", 0, 0.02, discFeatures(c), 1)
	n.zeros("lin.b", 1)
	return n
}

// binding places a Net's parameters in one graph, one node per parameter.
type binding struct {
	g     *gorgonia.ExprGraph
	net   *Net
	nodes []*gorgonia.Node
}

func bind(g *gorgonia.ExprGraph, net *Net) *binding {
	b := &binding{g: g, net: net, nodes: make([]*gorgonia.Node, len(net.Params))}
	for i, t := range net.Params {
		b.nodes[i] = gorgonia.NewTensor(g, tensor.Float32, t.Dims(), gorgonia.WithShape(t.Shape().Clone()...), gorgonia.WithValue(t), gorgonia.WithName(fmt.Sprintf("%p.%s", net, net.Names[i])))
	}
	return b
}

func (b *binding) p(name string) *gorgonia.Node {
	i, ok := b.net.index[name]
	if !ok {
		panic("gan: no parameter " + name) // a bug in this package, not in input
	}
	return b.nodes[i]
}

// genMode says how a generator graph is used.
type genMode struct {
	eval          bool // batch norm from running statistics (sampling)
	updateRunning bool // this graph trains the running statistics
	grads         bool // gradients for the generator's parameters are wanted
	rec           *nn.Recorder
}

// generator builds G(z): linear → 4×4 → [upsample ×2, conv3×3, BN, ReLU]… → conv3×3 → tanh.
func generator(b *binding, c spec.Config, z *gorgonia.Node, m genMode) (*gorgonia.Node, error) {
	ch := genChannels(c)
	n := z.Shape()[0]
	h, err := gorgonia.Mul(z, b.p("lin.w"))
	if err != nil {
		return nil, fmt.Errorf("generator linear: %w", err)
	}
	if h, err = gorgonia.Reshape(h, tensor.Shape{n, ch[0], 4, 4}); err != nil {
		return nil, err
	}
	bnRelu := func(x *gorgonia.Node, name string) (*gorgonia.Node, error) {
		bn := nn.BNOptions{Running: b.net.Running[name], Eval: m.eval, Update: m.updateRunning}
		y, err := nn.BatchNorm(x, b.p(name+".gamma"), b.p(name+".beta"), bn, nn.Grads{Input: true, Params: m.grads}, m.rec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return y, nil
	}
	if h, err = bnRelu(h, "bn0"); err != nil {
		return nil, err
	}
	for i := 1; i < len(ch); i++ {
		// Upsample ×2 and conv 3×3 in one op that never builds the big map.
		if h, err = nn.UpConv2d(h, b.p(fmt.Sprintf("conv%d.w", i)), nn.Grads{Input: true, Params: m.grads}, m.rec); err != nil {
			return nil, fmt.Errorf("generator conv%d: %w", i, err)
		}
		if h, err = bnRelu(h, fmt.Sprintf("bn%d", i)); err != nil {
			return nil, err
		}
	}
	if h, err = nn.Conv2d(h, b.p("out.w"), 1, 1, nn.Grads{Input: true, Params: m.grads}, m.rec); err != nil {
		return nil, fmt.Errorf("generator out: %w", err)
	}
	if h, err = nn.AddBias(h, b.p("out.b"), nn.Grads{Input: true, Params: m.grads}, m.rec); err != nil {
		return nil, err
	}
	return gorgonia.Tanh(h)
}

// discriminator builds D(x): [conv3×3 stride 2, (BN), LeakyReLU 0.2]… → (the batch's spread as one
// more channel) → linear → one logit.
// grads says whether D's parameter gradients are wanted; inputGrad whether
// the gradient flows back into x (it must, to train G through D).
func discriminator(b *binding, c spec.Config, x *gorgonia.Node, grads, inputGrad bool) (*gorgonia.Node, error) {
	ch := discChannels(c)
	n := x.Shape()[0]
	h := x
	var err error
	for i := range ch {
		if h, err = nn.Conv2d(h, b.p(fmt.Sprintf("conv%d.w", i)), 2, 1, nn.Grads{Input: i > 0 || inputGrad, Params: grads}, nil); err != nil {
			return nil, fmt.Errorf("discriminator conv%d: %w", i, err)
		}
		if i == 0 {
			if h, err = nn.AddBias(h, b.p("conv0.b"), nn.Grads{Input: true, Params: grads}, nil); err == nil {
				h, err = nn.LeakyReLU(h, 0.2, nil)
			}
		} else {
			name := fmt.Sprintf("bn%d", i)
			h, err = nn.BatchNorm(h, b.p(name+".gamma"), b.p(name+".beta"), nn.BNOptions{Slope: 0.2}, nn.Grads{Input: true, Params: grads}, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("discriminator layer %d: %w", i, err)
		}
	}
	if c.MBStd {
		if h, err = nn.MinibatchStddev(h, nn.Grads{Input: grads || inputGrad}); err != nil {
			return nil, fmt.Errorf("discriminator minibatch stddev: %w", err)
		}
	}
	if h, err = gorgonia.Reshape(h, tensor.Shape{n, discFeatures(c)}); err != nil {
		return nil, err
	}
	if h, err = gorgonia.Mul(h, b.p("lin.w")); err != nil {
		return nil, fmt.Errorf("discriminator linear: %w", err)
	}
	return nn.AddBias(h, b.p("lin.b"), nn.Grads{Input: true, Params: grads}, nil)
}
