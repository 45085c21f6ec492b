package gan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// Source is a dataset the trainer samples from.
type Source interface {
	Len() int
	Res() int
	// Image writes image i as planar RGB (CHW) in [-1, 1] into dst, which
	// holds 3·Res·Res values.
	Image(i int, dst []float32)
}

// Trainer owns a GAN in training: both networks, their optimisers, the RNG
// and the compiled graphs. Graphs are built once and reused every step.
type Trainer struct {
	cfg    spec.Config
	src    Source
	G, D   *Net
	Gema   *Net // the generator's weight average (nil when cfg.EMA is 0)
	optG   *nn.Adam
	optD   *nn.Adam
	pcg    *rand.PCG
	rng    *rand.Rand
	step   int
	fixedZ []float32 // latents of the progress grid, fixed for the whole run

	dStep, gStep *nn.Step
	real, zD, zG *tensor.Dense // inputs bound into the graphs
	gen          *Generator    // G in eval mode, lent out by Generator

	// stamp is odd during a training step: then the G step's generator
	// layers copy their outputs from the D step's, computed moments
	// before from the same weights and latents, instead of recomputing
	// them. Outside TrainStep it is even and every graph computes in full.
	stamp   uint64
	noShare bool // compute every layer in both graphs (tests compare the two)

	dFakeSpread float64 // std of D's logits on the last batch of fakes

	aug           augState // augmentation of D's inputs, ADA's control (augment.go)
	best          Best     // the step of the best quality so far (loop.go)
	feedbackState          // the ratings' part of training (feedback.go)
	deviceState            // training on a device (accel.go)
}

// feedbackState is what a trainer holds of the ratings. The graphs hold
// their parts only once a run has had feedback (fbGraphs); the tensors are
// their inputs.
type feedbackState struct {
	fb             *Feedback
	fbGraphs       bool
	neg, negW      *tensor.Dense // disliked batch; its loss weight ÷ size, per example
	modelVec       *tensor.Dense // rating model, one weight per pixel value (P × 1)
	modelB, modelW *tensor.Dense // its bias and loss weight ÷ batch, per example
	lastLikedSlots int
	likedIdx       []int // scratch for drawing liked images without replacement
	// likedData are the training images the rating model likes (index·2,
	// +1 for the mirrored image), for DataPick; likedDataFor is the model
	// they were found with.
	likedData    []int
	likedDataFor *RatingModel
}

// deviceState is a trainer on a device (accel.go), whose graphs are never
// built. The device holds the live weights: push says the host's copy is
// newer (a fresh trainer, a restored checkpoint), pull that the device's is
// (after a step), and Trainer.sync settles it before the host reads.
type deviceState struct {
	acc        *accel
	push, pull bool
}

// GridSize is how many fixed latents the progress grid shows (8×8).
const GridSize = 64

// NewTrainer makes fresh networks from cfg.Seed and compiles the graphs,
// or readies them on the device SetDevice chose.
func NewTrainer(cfg spec.Config, src Source) (*Trainer, error) {
	return newTrainer(cfg, src, currentDevice())
}

func newTrainer(cfg spec.Config, src Source, dev device) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src.Res() != cfg.Res {
		return nil, fmt.Errorf("dataset is %d×%d but the run is %d×%d", src.Res(), src.Res(), cfg.Res, cfg.Res)
	}
	if src.Len() == 0 {
		return nil, errors.New("dataset is empty")
	}
	t := &Trainer{cfg: cfg, src: src}
	t.pcg = rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)
	t.rng = rand.New(t.pcg)
	t.G = newGenerator(cfg, t.rng)
	t.D = newDiscriminator(cfg, t.rng)
	t.optG = nn.NewAdam(cfg.LRG, cfg.Beta1, cfg.Beta2, t.G.Params)
	t.optD = nn.NewAdam(cfg.LRD, cfg.Beta1, cfg.Beta2, t.D.Params)
	if cfg.EMA > 0 {
		t.Gema = newEMA(t.G)
	}
	t.aug = newAugState(cfg)
	t.fixedZ = make([]float32, GridSize*cfg.ZDim)
	t.normal(t.fixedZ)
	if dev != nil {
		t.inputs()
		acc, err := newAccel(dev, cfg, t.G, t.D, t.Gema)
		if err != nil {
			return nil, err
		}
		t.acc, t.push = acc, true
		return t, nil
	}
	if err := t.compile(); err != nil {
		return nil, err
	}
	return t, nil
}

// Device names what the trainer trains on.
func (t *Trainer) Device() string {
	if t.acc != nil {
		return t.acc.dev.Name()
	}
	return spec.CPU
}

// sync brings the host's weights, running statistics, Adam moments and
// the generator's average up to date with the device's before anything
// reads them.
func (t *Trainer) sync() error {
	if t.acc == nil || !t.pull {
		return nil
	}
	if err := t.transfer(false); err != nil {
		return err
	}
	t.pull = false
	return nil
}

// transfer copies both networks, their running statistics and optimiser
// moments, and the generator's average, to the device or from it.
func (t *Trainer) transfer(toDevice bool) error {
	a := t.acc
	err := a.dev.Do(func() error {
		a.err = nil
		a.transfer(toDevice, t.G, &a.G, t.optG)
		a.transfer(toDevice, t.D, &a.D, t.optD)
		if t.Gema != nil {
			a.transferEMA(toDevice, t.Gema)
		}
		return a.err
	})
	if err != nil {
		dir := "from"
		if toDevice {
			dir = "to"
		}
		return t.devErr(fmt.Errorf("copy weights %s %s: %w", dir, a.dev.Name(), err))
	}
	return nil
}

// devErr marks a device's error ErrDeviceLost when the device is gone.
func (t *Trainer) devErr(err error) error {
	return markLost(t.acc.dev, err)
}

func markLost(d device, err error) error {
	if err != nil && d.Lost() != nil && !errors.Is(err, ErrDeviceLost) {
		return fmt.Errorf("%w: %w", ErrDeviceLost, err)
	}
	return err
}

// inputs makes the host tensors batches and latents are drawn into.
func (t *Trainer) inputs() {
	c := t.cfg
	if t.real == nil {
		t.real = nn.NewTensor(c.Batch, 3, c.Res, c.Res)
		t.zD = nn.NewTensor(c.Batch, c.ZDim)
		t.zG = nn.NewTensor(c.Batch, c.ZDim)
	}
	if t.fbGraphs && t.neg == nil {
		k, p := negBatch(c.Batch), 3*c.Res*c.Res
		t.neg, t.negW = nn.NewTensor(k, 3, c.Res, c.Res), nn.NewTensor(k, 1)
		t.modelVec, t.modelB, t.modelW = nn.NewTensor(p, 1), nn.NewTensor(c.Batch, 1), nn.NewTensor(c.Batch, 1)
	}
}

// Config returns the trainer's configuration.
func (t *Trainer) Config() spec.Config { return t.cfg }

// Source is the data the trainer trains on.
func (t *Trainer) Source() Source { return t.src }

// Step returns how many steps have been taken.
func (t *Trainer) Step() int { return t.step }

// FixedLatents returns the progress grid's latents (GridSize × ZDim).
func (t *Trainer) FixedLatents() []float32 { return t.fixedZ }

// Generator is the trainer's generator in eval mode, sharing its weights:
// what it makes follows training. It is the weight average where the run
// keeps one (every image a person sees comes from it), else the live
// weights. Sampling runs on the host's copy, even for a run trained on a
// device (it happens at snapshots, not every step), so the generator
// copies the device's weights back before it reads them.
func (t *Trainer) Generator() *Generator {
	if t.gen == nil {
		t.gen = &Generator{cfg: t.cfg, net: t.shown(), fixedZ: t.fixedZ, ready: t.sync}
	}
	t.gen.step = t.step
	return t.gen
}

// shown is the generator whose images people see: the average, if any.
func (t *Trainer) shown() *Net {
	if t.Gema != nil {
		return t.Gema
	}
	return t.G
}

func (t *Trainer) normal(dst []float32) {
	for i := range dst {
		dst[i] = float32(t.rng.NormFloat64())
	}
}

// compile builds the two training graphs. Both share the parameter tensors.
// gorgonia cannot take two gradients of one graph whose losses share nodes,
// so D's loss and G's loss live in graphs of their own.
//
//	D step: fake = G(z) (no G gradients); loss = softplus(−D(x)) + softplus(D(fake))
//	G step: loss = softplus(−D(G(z))), gradients for G only
//
// (with the hinge loss, relu(1 − D(x)) + relu(1 + D(fake)) and −D(G(z))).
// With feedback, D's loss gains wn·softplus(D(disliked)) (relu(1 + ·) for
// the hinge) and G's gains wm·softplus(−r(G(z))), r being the rating model.
func (t *Trainer) compile() error {
	c := t.cfg
	t.inputs()
	dRec, gRec := &nn.Recorder{Stamp: &t.stamp}, &nn.Recorder{}

	// D step.
	{
		g := gorgonia.NewGraph()
		gb, db := bind(g, t.G), bind(g, t.D)
		fake, err := generator(gb, c, nn.Input(g, "z", t.zD), genMode{rec: dRec})
		if err != nil {
			return err
		}
		x := nn.Input(g, "x", t.real)
		if t.aug.on {
			if x, err = nn.Augment(x, t.aug.real, false); err == nil {
				fake, err = nn.Augment(fake, t.aug.fake, false)
			}
			if err != nil {
				return err
			}
		}
		lr, err := discriminator(db, c, x, true, false)
		if err != nil {
			return err
		}
		lf, err := discriminator(db, c, fake, true, false)
		if err != nil {
			return err
		}
		loss, err := nn.DiscriminatorLossOf(c.Loss, lr, lf)
		if err != nil {
			return err
		}
		if t.fbGraphs {
			neg := nn.Input(g, "neg", t.neg)
			if t.aug.on {
				if neg, err = nn.Augment(neg, t.aug.neg, false); err != nil {
					return err
				}
			}
			ln, err := discriminator(db, c, neg, true, false)
			if err != nil {
				return err
			}
			term, err := nn.DTerm(c.Loss, ln, false)
			if err == nil {
				loss, err = addWeighted(loss, term, nn.Input(g, "negw", t.negW))
			}
			if err != nil {
				return fmt.Errorf("disliked batch: %w", err)
			}
		}
		s, err := nn.Compile(g, db.nodes, loss, lr, lf)
		if err != nil {
			return fmt.Errorf("discriminator graph: %w", err)
		}
		t.dStep = s
	}
	// G step.
	{
		g := gorgonia.NewGraph()
		gb, db := bind(g, t.G), bind(g, t.D)
		fake, err := generator(gb, c, nn.Input(g, "z", t.zG), genMode{updateRunning: true, grads: true, rec: gRec})
		if err != nil {
			return err
		}
		seen := fake // what D judges: the fakes, augmented as D's step does
		if t.aug.on {
			if seen, err = nn.Augment(fake, t.aug.gen, true); err != nil {
				return err
			}
		}
		lf, err := discriminator(db, c, seen, false, true)
		if err != nil {
			return err
		}
		loss, err := nn.GeneratorLossOf(c.Loss, lf)
		if err != nil {
			return err
		}
		if t.fbGraphs {
			flat, err := gorgonia.Reshape(fake, tensor.Shape{c.Batch, 3 * c.Res * c.Res})
			if err != nil {
				return err
			}
			r, err := gorgonia.Mul(flat, nn.Input(g, "rating.w", t.modelVec))
			if err == nil {
				r, err = gorgonia.Add(r, nn.Input(g, "rating.b", t.modelB))
			}
			if err == nil {
				r, err = nn.Softplus(r, true)
			}
			if err == nil {
				loss, err = addWeighted(loss, r, nn.Input(g, "rating.weight", t.modelW))
			}
			if err != nil {
				return fmt.Errorf("rating model loss: %w", err)
			}
		}
		s, err := nn.Compile(g, gb.nodes, loss, lf, nil)
		if err != nil {
			return fmt.Errorf("generator graph: %w", err)
		}
		t.gStep = s
	}
	return nn.Pair(dRec, gRec)
}

// addWeighted is loss + Σ wᵢ·xᵢ, x being each example's loss term: w
// holds each example's weight, already divided by the batch size.
func addWeighted(loss, x *gorgonia.Node, w *gorgonia.Node) (*gorgonia.Node, error) {
	x, err := gorgonia.HadamardProd(x, w)
	if err != nil {
		return nil, err
	}
	if x, err = gorgonia.Sum(x); err != nil {
		return nil, err
	}
	return gorgonia.Add(loss, x)
}

func meanSigmoid(xs []float32) float64 {
	var s float64
	for _, x := range xs {
		s += 1 / (1 + math.Exp(-float64(x)))
	}
	return s / float64(len(xs))
}

// TrainStep runs one discriminator update then one generator update, on a
// fresh real batch and one batch of latents shared by both (as PyTorch's
// DCGAN example does).
func (t *Trainer) TrainStep(ctx context.Context) (spec.Stats, error) {
	if err := ctx.Err(); err != nil {
		return spec.Stats{}, err
	}
	c := t.cfg
	per := 3 * c.Res * c.Res
	real := nn.F32(t.real)
	t.lastLikedSlots = t.fillFeedback(real)
	picked := t.fb.dataSlots(c.Batch-t.lastLikedSlots, len(t.likedData))
	for i := t.lastLikedSlots; i < c.Batch; i++ {
		img := real[i*per : (i+1)*per]
		if i-t.lastLikedSlots < picked {
			// A training image the rating model likes, as it liked it.
			k := t.likedData[t.rng.IntN(len(t.likedData))]
			t.src.Image(k/2, img)
			if k%2 == 1 {
				mirror(img, c.Res)
			}
			continue
		}
		t.src.Image(t.rng.IntN(t.src.Len()), img)
		if c.Mirror && t.rng.IntN(2) == 0 {
			mirror(img, c.Res)
		}
	}
	t.normal(nn.F32(t.zD))
	t.drawAug()
	if t.acc != nil {
		return t.deviceStep()
	}
	copy(nn.F32(t.zG), nn.F32(t.zD))

	st := spec.Stats{Step: t.step + 1, AugP: t.aug.ada.P}
	if !t.noShare {
		t.stamp++
		defer func() { t.stamp += t.stamp % 2 }()
	}
	grads, err := t.dStep.Run()
	if err != nil {
		return st, fmt.Errorf("step %d, discriminator: %w", st.Step, err)
	}
	st.LossD = nn.Scalar(t.dStep.Loss)
	st.DReal = meanSigmoid(nn.F32(t.dStep.LogitsA))
	st.DFake = meanSigmoid(nn.F32(t.dStep.LogitsB))
	t.dFakeSpread = spread(nn.F32(t.dStep.LogitsB))
	t.observeReal(nn.F32(t.dStep.LogitsA))
	st.RT = t.aug.ada.RT
	t.optD.Step(t.D.Params, grads)

	if grads, err = t.gStep.Run(); err != nil {
		return st, fmt.Errorf("step %d, generator: %w", st.Step, err)
	}
	st.LossG = nn.Scalar(t.gStep.Loss)
	t.optG.Step(t.G.Params, grads)
	if t.Gema != nil {
		updateEMA(t.Gema, t.G, emaBeta(c, t.step))
	}
	if math.IsNaN(st.LossD) || math.IsNaN(st.LossG) {
		return st, diverged(st.Step)
	}
	t.step++
	return st, nil
}

// Close releases the trainer's compiled graphs. gorgonia gives each tape
// machine a finalizer, and a finalizer on an object in a reference cycle
// keeps the whole cycle (every buffer of the trainer) alive for good; a
// process that loads many trainers (the studio, for each "generate") must
// Close them.
func (t *Trainer) Close() {
	if t.acc != nil {
		t.acc.close()
	} else {
		t.dStep.Close()
		t.gStep.Close()
	}
	if t.gen != nil {
		t.gen.Close()
	}
}

// deviceStep is TrainStep's second half on a device.
func (t *Trainer) deviceStep() (spec.Stats, error) {
	a := t.acc
	if t.push {
		if err := t.transfer(true); err != nil {
			return spec.Stats{}, err
		}
		t.push = false
	}
	st, err := a.step(t, nn.F32(t.real), nn.F32(t.zD))
	st.Step = t.step + 1
	// Whatever happened, the device's weights may have moved.
	t.pull = true
	if err != nil {
		return st, t.devErr(fmt.Errorf("step %d on %s: %w", st.Step, a.dev.Name(), err))
	}
	if math.IsNaN(st.LossD) || math.IsNaN(st.LossG) {
		return st, diverged(st.Step)
	}
	t.step++
	return st, nil
}

// diverged is the error of a step whose loss is not a number; the user
// sees it as the run's error.
func diverged(step int) error {
	return fmt.Errorf("training diverged at step %d (the loss is not a number); try lower learning rates", step)
}
