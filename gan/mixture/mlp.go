package mixture

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/nn"
)

// MLPConfig is a fully-connected GAN for 2-D data. The defaults are the
// VEEGAN set-up of the mixture benchmarks (see NOTES-modes.md).
type MLPConfig struct {
	ZDim   int     // latent size (256)
	Hidden int     // units per hidden layer (128)
	Layers int     // hidden tanh layers in G and in D (2)
	Batch  int     // samples per step (512)
	LRG    float64 // generator Adam learning rate (1e-3)
	LRD    float64 // discriminator Adam learning rate (1e-4)
	Beta1  float64 // Adam β1 (0.5)
	Beta2  float64 // Adam β2 (0.999)
	Seed   uint64

	// Remedies, off by default.
	Pack  int     // D judges Pack samples at once (PacGAN); 1 = plain
	Noise float64 // std of instance noise added to D's inputs, real and fake
}

// DefaultMLPConfig is the VEEGAN set-up.
func DefaultMLPConfig() MLPConfig {
	return MLPConfig{ZDim: 256, Hidden: 128, Layers: 2, Batch: 512, LRG: 1e-3, LRD: 1e-4, Beta1: 0.5, Beta2: 0.999, Pack: 1}
}

// Validate reports the first setting that cannot work.
func (c MLPConfig) Validate() error {
	switch {
	case c.ZDim < 1 || c.Hidden < 1 || c.Layers < 1:
		return fmt.Errorf("mlp: latent size, width and depth must be positive, got %d, %d, %d", c.ZDim, c.Hidden, c.Layers)
	case c.Batch < 2:
		return fmt.Errorf("mlp: batch must be at least 2, got %d", c.Batch)
	case c.Pack < 1 || c.Batch%c.Pack != 0:
		return fmt.Errorf("mlp: packing %d must be at least 1 and divide the batch %d", c.Pack, c.Batch)
	case c.LRG <= 0 || c.LRD <= 0 || c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("mlp: learning rates must be positive and betas in [0, 1)")
	case c.Noise < 0:
		return fmt.Errorf("mlp: instance noise must not be negative, got %g", c.Noise)
	}
	return nil
}

// MLPGAN trains an MLP generator against an MLP discriminator on a
// mixture, with the image trainer's two-graph pattern: a D-loss graph and a
// G-loss graph over the same parameter tensors, non-saturating loss.
type MLPGAN struct {
	cfg   MLPConfig
	mix   Mixture
	G, D  *gan.Net
	optG  *nn.Adam
	optD  *nn.Adam
	pcg   *rand.PCG
	rng   *rand.Rand
	step  int
	dStep *nn.Step
	gStep *nn.Step

	real, zD, zG, noise *tensor.Dense // inputs bound into the graphs

	// stamp is odd during a step: the G graph's generator layers then copy
	// their outputs from the D graph's, computed from the same weights and
	// latents moments before (the image trainer's sharing).
	stamp uint64
}

// MLPStats are one step's losses.
type MLPStats struct {
	LossD, LossG float64
}

// NewMLPGAN makes fresh networks from cfg.Seed and compiles the graphs.
func NewMLPGAN(cfg MLPConfig, mix Mixture) (*MLPGAN, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &MLPGAN{cfg: cfg, mix: mix}
	m.pcg = rand.NewPCG(cfg.Seed, 0x2545f4914f6cdd1d)
	m.rng = rand.New(m.pcg)
	m.G = mlpNet(m.rng, cfg.ZDim, cfg.Hidden, cfg.Layers, 2)
	m.D = mlpNet(m.rng, 2*cfg.Pack, cfg.Hidden, cfg.Layers, 1)
	m.optG = nn.NewAdam(cfg.LRG, cfg.Beta1, cfg.Beta2, m.G.Params)
	m.optD = nn.NewAdam(cfg.LRD, cfg.Beta1, cfg.Beta2, m.D.Params)
	if err := m.compile(); err != nil {
		return nil, err
	}
	return m, nil
}

// mlpNet makes layers in→hidden→…→out with Glorot-uniform weights and zero
// biases (TensorFlow's dense-layer defaults, which the papers' code used).
func mlpNet(rng *rand.Rand, in, hidden, layers, out int) *gan.Net {
	n := gan.NewNet()
	sizes := append([]int{in}, slices.Repeat([]int{hidden}, layers)...)
	sizes = append(sizes, out)
	for l := 0; l+1 < len(sizes); l++ {
		a, b := sizes[l], sizes[l+1]
		w := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(a, b))
		lim := math.Sqrt(6 / float64(a+b))
		for i := range nn.F32(w) {
			nn.F32(w)[i] = float32(lim * (2*rng.Float64() - 1))
		}
		n.Add(fmt.Sprintf("fc%d.w", l), w)
		n.Add(fmt.Sprintf("fc%d.b", l), tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(b)))
	}
	return n
}

// Config returns the configuration in force (remedies included).
func (m *MLPGAN) Config() MLPConfig { return m.cfg }

// Step returns how many steps have been taken.
func (m *MLPGAN) Step() int { return m.step }

// mlp applies net's layers to x: tanh on hidden layers, linear output.
// needX asks for the gradient of the input, learn for the parameters'.
func mlp(b *bound, x *gorgonia.Node, needX, learn bool, rec *nn.Recorder) (*gorgonia.Node, error) {
	layers := len(b.nodes) / 2
	var err error
	for l := 0; l < layers; l++ {
		act := nn.Tanh
		if l == layers-1 {
			act = nn.Linear
		}
		if x, err = nn.Dense(x, b.nodes[2*l], b.nodes[2*l+1], act, nn.Grads{Input: needX || l > 0, Params: learn}, rec); err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
	}
	return x, nil
}

// bound is a network's parameters as nodes of one graph.
type bound struct{ nodes []*gorgonia.Node }

func bindMLP(g *gorgonia.ExprGraph, n *gan.Net, prefix string) *bound {
	b := &bound{}
	for i, p := range n.Params {
		b.nodes = append(b.nodes, gorgonia.NewTensor(g, tensor.Float32, p.Dims(), gorgonia.WithShape(p.Shape().Clone()...),
			gorgonia.WithValue(p), gorgonia.WithName(prefix+n.Names[i])))
	}
	return b
}

// compile builds both graphs. The first dense layer of D reads its input as
// rows of 2·Pack values, which packs consecutive samples with no reshape.
//
//	D step: loss = softplus(−D(x+ε)) + softplus(D(G(z)+ε')), gradients for D
//	G step: loss = softplus(−D(G(z)+ε')), gradients for G
func (m *MLPGAN) compile() error {
	c := m.cfg
	m.closeGraphs()
	m.real = nn.NewTensor(c.Batch, 2)
	m.zD = nn.NewTensor(c.Batch, c.ZDim)
	m.zG = nn.NewTensor(c.Batch, c.ZDim)
	m.noise = nn.NewTensor(c.Batch, 2)
	dRec, gRec := &nn.Recorder{Stamp: &m.stamp}, &nn.Recorder{}
	for _, learnD := range []bool{true, false} {
		g := gorgonia.NewGraph()
		gb, db := bindMLP(g, m.G, "G."), bindMLP(g, m.D, "D.")
		z := nn.Input(g, "z", m.zG)
		if learnD {
			z = nn.Input(g, "z", m.zD)
		}
		rec := gRec
		if learnD {
			rec = dRec
		}
		fake, err := mlp(gb, z, false, !learnD, rec)
		if err != nil {
			return fmt.Errorf("generator: %w", err)
		}
		if c.Noise > 0 {
			if fake, err = gorgonia.Add(fake, nn.Input(g, "noise", m.noise)); err != nil {
				return fmt.Errorf("instance noise: %w", err)
			}
		}
		lf, err := mlp(db, fake, !learnD, learnD, nil)
		if err != nil {
			return fmt.Errorf("discriminator on fakes: %w", err)
		}
		if !learnD {
			loss, err := nn.GeneratorLoss(lf)
			if err != nil {
				return err
			}
			if m.gStep, err = nn.Compile(g, gb.nodes, loss, lf, nil); err != nil {
				return fmt.Errorf("generator graph: %w", err)
			}
			continue
		}
		lr, err := mlp(db, nn.Input(g, "x", m.real), false, true, nil)
		if err != nil {
			return fmt.Errorf("discriminator on data: %w", err)
		}
		loss, err := nn.DiscriminatorLoss(lr, lf)
		if err != nil {
			return err
		}
		if m.dStep, err = nn.Compile(g, db.nodes, loss, lr, lf); err != nil {
			return fmt.Errorf("discriminator graph: %w", err)
		}
	}
	return nn.Pair(dRec, gRec)
}

func (m *MLPGAN) normal(dst []float32, std float64) {
	for i := range dst {
		dst[i] = float32(std * m.rng.NormFloat64())
	}
}

// TrainStep runs one D update then one G update on a fresh real batch and
// one batch of latents shared by both, as the image trainer does.
func (m *MLPGAN) TrainStep(ctx context.Context) (MLPStats, error) {
	if err := ctx.Err(); err != nil {
		return MLPStats{}, err
	}
	real := nn.F32(m.real)
	m.mix.sampleInto(real, m.rng)
	m.normal(nn.F32(m.zD), 1)
	copy(nn.F32(m.zG), nn.F32(m.zD))
	if m.cfg.Noise > 0 {
		// Instance noise blurs both distributions alike, so D cannot
		// separate them by the fine detail a collapsed G lacks.
		eps := make([]float32, len(real))
		m.normal(eps, m.cfg.Noise)
		for i := range real {
			real[i] += eps[i]
		}
		m.normal(nn.F32(m.noise), m.cfg.Noise)
	}
	var st MLPStats
	m.stamp++
	defer func() { m.stamp += m.stamp % 2 }()
	grads, err := m.dStep.Run()
	if err != nil {
		return st, fmt.Errorf("step %d, discriminator: %w", m.step+1, err)
	}
	st.LossD = nn.Scalar(m.dStep.Loss)
	m.optD.Step(m.D.Params, grads)
	if grads, err = m.gStep.Run(); err != nil {
		return st, fmt.Errorf("step %d, generator: %w", m.step+1, err)
	}
	st.LossG = nn.Scalar(m.gStep.Loss)
	m.optG.Step(m.G.Params, grads)
	if math.IsNaN(st.LossD) || math.IsNaN(st.LossG) {
		return st, fmt.Errorf("step %d: training diverged (loss is NaN)", m.step+1)
	}
	m.step++
	return st, nil
}

// Generate maps latents (n × ZDim, flat) to n 2-D samples with the current
// generator, through the same kernels as training.
func (m *MLPGAN) Generate(z []float32) []float32 {
	n := len(z) / m.cfg.ZDim
	x, in := z, m.cfg.ZDim
	layers := len(m.G.Params) / 2
	for l := 0; l < layers; l++ {
		w, b := m.G.Params[2*l], m.G.Params[2*l+1]
		out := w.Shape()[1]
		y := make([]float32, n*out)
		act := nn.Tanh
		if l == layers-1 {
			act = nn.Linear
		}
		nn.DenseForward(x, nn.F32(w), nn.F32(b), y, n, in, out, act)
		x, in = y, out
	}
	return x
}

// Close releases the compiled graphs (see gan.Trainer.Close).
func (m *MLPGAN) Close() { m.closeGraphs() }

func (m *MLPGAN) closeGraphs() {
	for _, s := range []*nn.Step{m.dStep, m.gStep} {
		if s != nil {
			s.Close()
		}
	}
	m.dStep, m.gStep = nil, nil
}
