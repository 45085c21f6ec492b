package spec

import (
	"fmt"
	"math"
)

// Config describes the networks and their optimisers. The zero value is not
// useful; start from DefaultConfig or Preset.
type Config struct {
	Res   int     // image side: 32 or 64
	Width float64 // channel multiplier; 1 is the reference DCGAN (G 256→32, D 64→256)
	ZDim  int     // latent size
	Batch int     // images per step
	LRG   float64 // generator Adam learning rate
	LRD   float64 // discriminator Adam learning rate
	Beta1 float64 // Adam β1
	Beta2 float64 // Adam β2
	Seed  uint64  // everything random (weights, batches, latents) derives from it
}

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
}

// Preset returns the named configuration.
func Preset(name string) (Config, error) {
	f, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q (have ref32, ref64, tiny)", name)
	}
	return f(), nil
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Res != 32 && c.Res != 64:
		return fmt.Errorf("resolution must be 32 or 64, got %d", c.Res)
	case c.Width <= 0 || c.Width > 4 || math.IsNaN(c.Width):
		return fmt.Errorf("width multiplier must be in (0, 4], got %g", c.Width)
	case c.ZDim < 1 || c.ZDim > 1024:
		return fmt.Errorf("latent size must be in [1, 1024], got %d", c.ZDim)
	case c.Batch < 2 || c.Batch > 1024:
		return fmt.Errorf("batch must be in [2, 1024] (batch norm needs two images), got %d", c.Batch)
	case !(c.LRG > 0 && c.LRG < 1) || !(c.LRD > 0 && c.LRD < 1):
		return fmt.Errorf("learning rates must be in (0, 1), got G %g, D %g", c.LRG, c.LRD)
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("Adam betas must be in [0, 1), got %g, %g", c.Beta1, c.Beta2)
	}
	return nil
}
