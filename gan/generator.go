package gan

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// Generator is a generator on its own: its weights and batch-norm running
// statistics, run in eval mode (each image depends on its own latent
// alone). Every image a person sees is made by one: grids, samples,
// "generate", interpolations, the health check's images, "near liked ones".
// A trainer lends out its own (Trainer.Generator); LoadGenerator reads one
// from a checkpoint without building the discriminator, the optimisers or
// the training graphs.
type Generator struct {
	cfg    spec.Config
	net    *Net
	step   int
	fixedZ []float32
	// ready brings the weights up to date before they are read (a trainer
	// on a device copies them back first); nil for a loaded generator.
	ready func() error

	vm  gorgonia.VM // the eval graph, built on first use
	z   *tensor.Dense
	out gorgonia.Value
}

// sampleBatch is how many latents one run of the eval graph takes.
const sampleBatch = GridSize

// genCheckpoint is the part of a checkpoint a generator reads: gob reads
// past the discriminator's weights and both optimisers' moments without
// keeping them.
type genCheckpoint struct {
	Version int
	Config  spec.Config
	Step    int
	GNames  []string
	G       [][]float32
	Running map[string]nn.BNRunning
	FixedZ  []float32
	GEMA    [][]float32
}

// ReadGenerator reads the generator of a checkpoint: its weight average
// where the run keeps one, as every image a person sees is made with.
func ReadGenerator(r io.Reader) (*Generator, error) { return readGenerator(r, false) }

// LoadLiveGenerator reads a checkpoint file's generator with its live
// weights, not their average: for comparing the two.
func LoadLiveGenerator(path string) (*Generator, error) {
	return loadGenerator(path, true)
}

func readGenerator(r io.Reader, live bool) (*Generator, error) {
	var ck genCheckpoint
	if err := gob.NewDecoder(r).Decode(&ck); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := readable(ck.Version); err != nil {
		return nil, err
	}
	if err := ck.Config.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	// The weights drawn here are all overwritten by the checkpoint's: the
	// average where the run keeps one, as the trainer's own generator.
	net := newGenerator(ck.Config, rand.New(rand.NewPCG(0, 0)))
	weights := ck.G
	if ck.GEMA != nil && !live {
		weights = ck.GEMA
	}
	if err := setGenerator(net, ck.GNames, weights, ck.Running); err != nil {
		return nil, err
	}
	if len(ck.FixedZ) != GridSize*ck.Config.ZDim {
		return nil, fmt.Errorf("checkpoint grid latents have %d values, want %d", len(ck.FixedZ), GridSize*ck.Config.ZDim)
	}
	return &Generator{cfg: ck.Config, net: net, step: ck.Step, fixedZ: ck.FixedZ}, nil
}

// LoadGenerator reads the generator of a checkpoint file (its average).
func LoadGenerator(path string) (*Generator, error) { return loadGenerator(path, false) }

func loadGenerator(path string, live bool) (*Generator, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g, err := readGenerator(bufio.NewReaderSize(f, 1<<20), live)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// setGenerator copies saved weights and running statistics into a
// generator network, checking that each fits.
func setGenerator(net *Net, names []string, data [][]float32, running map[string]nn.BNRunning) error {
	if err := restore(net, names, data); err != nil {
		return fmt.Errorf("checkpoint generator: %w", err)
	}
	for k, r := range net.Running {
		saved, ok := running[k]
		if !ok || len(saved.Mean) != len(r.Mean) || len(saved.Var) != len(r.Var) {
			return fmt.Errorf("checkpoint lacks running statistics for %s", k)
		}
		copy(r.Mean, saved.Mean)
		copy(r.Var, saved.Var)
		r.Momentum = saved.Momentum
	}
	return nil
}

// Config is the configuration of the run the generator comes from.
func (g *Generator) Config() spec.Config { return g.cfg }

// Step is the training step its checkpoint was taken at (for a trainer's
// own generator, the step it was lent at).
func (g *Generator) Step() int { return g.step }

// FixedLatents are the run's progress-grid latents (GridSize × ZDim).
func (g *Generator) FixedLatents() []float32 { return g.fixedZ }

// Generate turns latents (n × ZDim, row after row) into n images, each
// planar RGB (CHW) in [-1, 1].
func (g *Generator) Generate(z []float32) ([][]float32, error) {
	zd := g.cfg.ZDim
	if len(z)%zd != 0 {
		return nil, fmt.Errorf("latents: %d values is not a multiple of %d", len(z), zd)
	}
	if g.ready != nil {
		if err := g.ready(); err != nil {
			return nil, err
		}
	}
	if g.vm == nil {
		if err := g.build(); err != nil {
			return nil, err
		}
	}
	n := len(z) / zd
	per := 3 * g.cfg.Res * g.cfg.Res
	out := make([][]float32, 0, n)
	for lo := 0; lo < n; lo += sampleBatch {
		hi := min(lo+sampleBatch, n)
		in := nn.F32(g.z)
		clear(in)
		copy(in, z[lo*zd:hi*zd])
		err := g.vm.RunAll()
		g.vm.Reset()
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		imgs := nn.F32(g.out)
		for i := 0; i < hi-lo; i++ {
			out = append(out, append([]float32(nil), imgs[i*per:(i+1)*per]...))
		}
	}
	return out, nil
}

// build compiles the eval graph: batch norm from the running statistics.
func (g *Generator) build() error {
	graph := gorgonia.NewGraph()
	g.z = nn.NewTensor(sampleBatch, g.cfg.ZDim)
	img, err := generator(bind(graph, g.net), g.cfg, nn.Input(graph, "z", g.z), genMode{eval: true})
	if err != nil {
		return fmt.Errorf("sampling graph: %w", err)
	}
	gorgonia.Read(img, &g.out)
	g.vm = gorgonia.NewTapeMachine(graph)
	return nil
}

// GridImage renders the fixed-latent progress grid.
func (g *Generator) GridImage() (*image.NRGBA, error) {
	imgs, err := g.Generate(g.fixedZ)
	if err != nil {
		return nil, err
	}
	return Grid(imgs, g.cfg.Res, 8), nil
}

// Close releases the eval graph (see Trainer.Close for why it matters).
func (g *Generator) Close() {
	if g.vm != nil {
		nn.CloseVM(g.vm)
		g.vm = nil
	}
}
