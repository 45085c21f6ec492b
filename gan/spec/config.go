package spec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Config describes the networks and their optimisers. The zero value is not
// useful; start from DefaultConfig or Preset.
type Config struct {
	Res   int     // image side: 32 or 64
	Width float64 // channel multiplier; 1 is the reference DCGAN (G 256→32, D 64→256)
	// DWidth is the discriminator's own channel multiplier; 0 (runs
	// from before the choice) is Width.
	DWidth float64
	ZDim   int     // latent size
	Batch  int     // images per step
	LRG    float64 // generator Adam learning rate
	LRD    float64 // discriminator Adam learning rate
	Beta1  float64 // Adam β1
	Beta2  float64 // Adam β2
	Seed   uint64  // everything random (weights, batches, latents) derives from it

	// Augment is what the discriminator's inputs go through; the zero
	// value (runs and checkpoints from before augmentation) is none.
	Augment Augment
	// EMA is the half-life, in images, of the generator's weight average
	// that every image a person sees is made with (0: no average, the
	// live weights). Early in a run the half-life is shorter (EMARamp).
	EMA float64
	// EMARamp caps the average's half-life at this share of the images
	// seen so far; 0 (runs from before the choice) is EMARampup.
	EMARamp float64
	// Mirror flips each real image left to right half the time: the data
	// doubled, for sets whose objects have no handedness.
	Mirror bool
	// Loss is the GAN loss: LossNS (or empty, runs from before the
	// choice) or LossHinge.
	Loss string
	// MBStd gives the discriminator the batch's spread (minibatch
	// standard deviation, ProGAN's) as one more channel at 4×4 before its
	// linear layer; false (runs from before the choice) is without.
	MBStd bool
}

// The GAN losses, as Config.Loss and gan/nn's loss builders name them.
const (
	LossNS    = "ns"    // non-saturating, the original GAN's
	LossHinge = "hinge" // SNGAN's, FastGAN's and BigGAN's
)

// LossNames are the losses Config.Loss takes.
var LossNames = []string{LossNS, LossHinge}

// Augmentation modes.
const (
	AugOff   = "off"   // the discriminator sees images as they are
	AugAuto  = "auto"  // the strength follows how sure D is of real images (ADA)
	AugFixed = "fixed" // the strength stays at Augment.P
)

// Augment is differentiable augmentation (DiffAugment) of everything the
// discriminator sees, real and generated, in both steps: each of its
// transforms is applied to an image with probability P, the strength.
// With AugAuto, P moves every AugInterval steps by
// sign(r_t − Target)·(images in the interval)/Speed, where r_t = E[sign D(x)]
// over the interval's real batches (ADA's overfitting heuristic).
type Augment struct {
	Mode   string  // AugOff (or empty), AugAuto or AugFixed
	P      float64 // the strength: fixed, or where auto starts
	Target float64 // auto: the r_t it steers toward
	Speed  float64 // auto: images over which P could move from 0 to 1
	// Ops are the transforms, a comma-separated subset of AugOps in any
	// order (applied in AugOps' order); empty means all of them.
	Ops string
}

// AugOps are DiffAugment's transforms in the order they are applied:
// colour (brightness, saturation, contrast), translation by up to 1/8 of
// the side, and cutout of a square of half the side.
var AugOps = []string{"color", "translation", "cutout"}

// AugInterval is how many steps ADA averages r_t over between updates.
const AugInterval = 4

// EMARampup caps the average's half-life at this share of the images seen
// so far, so a young run's average is not dominated by its first steps.
// ADA's 0.05 is for runs of millions of images.
const EMARampup = 0.05

// EMARampShare is the average's ramp-up share: EMARamp, or EMARampup if unset.
func (c Config) EMARampShare() float64 {
	if c.EMARamp == 0 {
		return EMARampup
	}
	return c.EMARamp
}

// On says whether any augmentation is applied.
func (a Augment) On() bool { return a.Mode == AugAuto || a.Mode == AugFixed }

// Has says whether transform op (one of AugOps) is among the chosen ones.
func (a Augment) Has(op string) bool {
	if !a.On() {
		return false
	}
	if a.Ops == "" {
		return true
	}
	for _, o := range strings.Split(a.Ops, ",") {
		if strings.TrimSpace(o) == op {
			return true
		}
	}
	return false
}

// AutoAugment is ADA's control as the studio runs it: from no augmentation,
// toward r_t = 0.6, able to go from 0 to full strength within 100,000
// images (ADA's own 500,000 is for runs of millions of images).
func AutoAugment() Augment {
	return Augment{Mode: AugAuto, Target: 0.6, Speed: 100_000}
}

// ParseAugment reads the form's and API's "augment": "auto", "off", or a
// fixed strength between 0 and 1.
func ParseAugment(s string) (Augment, error) {
	switch s = strings.TrimSpace(s); s {
	case AugAuto:
		return AutoAugment(), nil
	case AugOff:
		return Augment{Mode: AugOff}, nil
	}
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || !(p >= 0 && p <= 1) {
		return Augment{}, fmt.Errorf("augment must be auto, off, or a strength from 0 to 1, not %q", s)
	}
	return Augment{Mode: AugFixed, P: p}, nil
}

// String is the augmentation as ParseAugment reads it.
func (a Augment) String() string {
	switch a.Mode {
	case AugAuto:
		return AugAuto
	case AugFixed:
		return strconv.FormatFloat(a.P, 'g', -1, 64)
	}
	return AugOff
}

// Validate reports the first setting that cannot work.
func (a Augment) Validate() error {
	switch a.Mode {
	case "", AugOff:
		return nil
	case AugAuto, AugFixed:
	default:
		return fmt.Errorf("augmentation mode must be auto, fixed or off, got %q", a.Mode)
	}
	if !(a.P >= 0 && a.P <= 1) {
		return fmt.Errorf("augmentation strength must be in [0, 1], got %g", a.P)
	}
	if a.Mode == AugAuto {
		if !(a.Target > 0 && a.Target < 1) {
			return fmt.Errorf("augmentation target r_t must be in (0, 1), got %g", a.Target)
		}
		if !(a.Speed >= 1000 && a.Speed < 1e9) {
			return fmt.Errorf("augmentation speed must be from 1,000 to 10⁹ images, got %g", a.Speed)
		}
	}
	if a.Ops != "" {
		for _, o := range strings.Split(a.Ops, ",") {
			if !slices.Contains(AugOps, strings.TrimSpace(o)) {
				return fmt.Errorf("unknown augmentation %q (have %s)", strings.TrimSpace(o), strings.Join(AugOps, ", "))
			}
		}
	}
	return nil
}

// Resolutions are the image sides the networks are built at, smallest
// first: each stage doubles the side from 4×4 (gan's stages), so any power
// of two builds; 256 is the largest a dataset is kept at.
var Resolutions = []int{32, 64, 128, 256}

// DefaultConfig is the reference DCGAN at 32×32 (the "ref32" preset).
func DefaultConfig() Config {
	return Config{Res: 32, Width: 1, ZDim: 128, Batch: 64, LRG: 2e-4, LRD: 2e-4, Beta1: 0.5, Beta2: 0.999, Seed: 1}
}

// Presets are named configurations; ref32 is the one benchmarks use.
var Presets = map[string]func() Config{
	"ref32": DefaultConfig,
	"ref64": func() Config { c := DefaultConfig(); c.Res = 64; return c },
	// tiny trains in seconds; tests and quick demos use it.
	"tiny": func() Config { c := DefaultConfig(); c.Width = 0.25; c.Batch = 32; c.ZDim = 64; return c },
	// studio32 … studio256 are the studio's default engine: the
	// reference network with augmentation steered by ADA, the generator
	// average and mirrored data.
	"studio32": func() Config { return Studio(32) },
	"studio64": func() Config { return Studio(64) },
	// 128 px trains on the CPU too, slowly; 256 px is for GPUs.
	"studio128": func() Config { return Studio(128) },
	"studio256": func() Config { return Studio(256) },
}

// Studio is the studio's default engine at side res: what the new-run
// form starts from.
func Studio(res int) Config {
	c := DefaultConfig()
	c.Res = res
	c.Augment = AutoAugment()
	c.EMA = 10_000
	c.Mirror = true
	// The non-saturating loss: the hinge (LossHinge) was measured against
	// it and not chosen (README, bench quality).
	return c
}

// Preset returns the named configuration.
func Preset(name string) (Config, error) {
	f, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	return f(), nil
}

// PresetNames are the presets' names in order.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// DiscWidth is the discriminator's channel multiplier.
func (c Config) DiscWidth() float64 {
	if c.DWidth == 0 {
		return c.Width
	}
	return c.DWidth
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case !slices.Contains(Resolutions, c.Res):
		return fmt.Errorf("resolution must be 32, 64, 128 or 256, got %d", c.Res)
	case c.Width <= 0 || c.Width > 4 || math.IsNaN(c.Width):
		return fmt.Errorf("width multiplier must be in (0, 4], got %g", c.Width)
	case c.DWidth < 0 || c.DWidth > 4 || math.IsNaN(c.DWidth):
		return fmt.Errorf("discriminator's width multiplier must be in (0, 4] (or 0: the generator's), got %g", c.DWidth)
	case c.ZDim < 1 || c.ZDim > 1024:
		return fmt.Errorf("latent size must be in [1, 1024], got %d", c.ZDim)
	case c.Batch < 2 || c.Batch > 1024:
		return fmt.Errorf("batch must be in [2, 1024] (batch norm needs two images), got %d", c.Batch)
	case !(c.LRG > 0 && c.LRG < 1) || !(c.LRD > 0 && c.LRD < 1):
		return fmt.Errorf("learning rates must be in (0, 1), got G %g, D %g", c.LRG, c.LRD)
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("Adam betas must be in [0, 1), got %g, %g", c.Beta1, c.Beta2)
	case !(c.EMA >= 0 && c.EMA < 1e9):
		return fmt.Errorf("the generator average's half-life must be from 0 to 10⁹ images, got %g", c.EMA)
	case !(c.EMARamp >= 0 && c.EMARamp <= 1):
		return fmt.Errorf("the generator average's ramp-up must be a share of the images seen, from 0 to 1, got %g", c.EMARamp)
	case c.Loss != "" && !slices.Contains(LossNames, c.Loss):
		return fmt.Errorf("loss must be %s, got %q", strings.Join(LossNames, " or "), c.Loss)
	}
	return c.Augment.Validate()
}
