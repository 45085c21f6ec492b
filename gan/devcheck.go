package gan

import (
	"context"
	"fmt"
	"math"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// DeviceCheck is how far training on a device strays from the CPU engine.
type DeviceCheck struct {
	Device string          `json:"device"`
	Steps  [][2]spec.Stats `json:"steps"` // each step's figures: spec.CPU, device
	// LossDiff is the largest relative difference between the two
	// engines' losses, D outputs, augmentation strengths and r_t over all
	// steps.
	LossDiff float64 `json:"loss_diff"`
	// WeightDiff is the largest, over the steps, of how far apart the two
	// engines' updates of the weights are, relative to the update's size
	// (Euclidean, over all of G's and D's weights and the generator's
	// average, if the run keeps one). Where names the single weight
	// furthest apart (E: the average).
	WeightDiff float64 `json:"weight_diff"`
	Where      string  `json:"where"`
}

// The largest LossDiff and WeightDiff that CheckDevice's callers accept
// as float32 rounding. Measured with the emulator on the shapes set (tiny
// preset, batch 8): the real kernels give 3e-5 and 0.023, the second
// figure from one batch-norm output within rounding of the rectifier's
// kink, whose gradient then takes the slope on one engine and not on the
// other; a dropped term in batch norm's gradient gives 6e-3 and 0.58, a
// 0.1% error in one layout copy 4e-5 and 0.18.
const (
	DeviceLossTolerance   = 1e-3
	DeviceWeightTolerance = 0.1
)

// CheckDevice trains two trainers side by side for steps steps, one on the
// CPU and one on the named device, from the same seed (the same weights,
// batches and latents). Before each step the device gets the CPU's exact
// state, so each step is compared from the same weights: over several
// steps a GAN's two copies drift apart by themselves (a rectifier input
// within rounding of zero takes one side on one engine and the other on
// the other), which says nothing about the step.
func CheckDevice(ctx context.Context, name string, cfg spec.Config, src Source, steps int) (DeviceCheck, error) {
	out := DeviceCheck{Device: name}
	if name == spec.CPU {
		return out, fmt.Errorf("%s is the spec.CPU itself", name)
	}
	dev, err := openDevice(name)
	if err != nil {
		return out, err
	}
	cpu, err := newTrainer(cfg, src, nil)
	if err != nil {
		return out, err
	}
	defer cpu.Close()
	on, err := newTrainer(cfg, src, dev)
	if err != nil {
		return out, err
	}
	defer on.Close()
	var worst float64
	nets := [][2]*Net{{cpu.G, on.G}, {cpu.D, on.D}}
	if cpu.Gema != nil {
		nets = append(nets, [2]*Net{cpu.Gema, on.Gema})
	}
	for i := 0; i < steps; i++ {
		var before [][][]float32
		for _, n := range nets {
			before = append(before, n[0].CopyParams())
		}
		a, err := cpu.TrainStep(ctx)
		if err != nil {
			return out, fmt.Errorf("cpu: %w", err)
		}
		b, err := on.TrainStep(ctx)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out.Steps = append(out.Steps, [2]spec.Stats{a, b})
		// r_t is left out: it counts signs, and a real logit within
		// rounding of zero may take either sign on two devices that agree
		// (a shift of 2/(batch·interval), not a fault). The strength it
		// steers is compared, and a wrong r_t soon shows there.
		for _, p := range [][2]float64{{a.LossD, b.LossD}, {a.LossG, b.LossG}, {a.DReal, b.DReal}, {a.DFake, b.DFake}, {a.AugP, b.AugP}} {
			out.LossDiff = math.Max(out.LossDiff, relDiff(p[0], p[1]))
		}
		if err := on.sync(); err != nil {
			return out, err
		}
		var moved, apart float64
		for k, n := range nets {
			for j, p := range n[0].Params {
				x, y, x0 := nn.F32(p), nn.F32(n[1].Params[j]), before[k][j]
				for e := range x {
					m, d := float64(x[e]-x0[e]), float64(x[e]-y[e])
					moved += m * m
					apart += d * d
					if math.Abs(d) > worst || out.Where == "" {
						worst, out.Where = math.Abs(d), fmt.Sprintf("%s %s[%d] at step %d", "GDE"[k:k+1], n[0].Names[j], e, i+1)
					}
				}
			}
		}
		switch {
		case moved > 0:
			out.WeightDiff = math.Max(out.WeightDiff, math.Sqrt(apart/moved))
		case apart > 0:
			out.WeightDiff = math.Inf(1)
		}
		if err := on.copyState(cpu); err != nil {
			return out, err
		}
	}
	return out, nil
}

// copyState gives t the weights, running statistics and optimiser state
// of src (same configuration), to be pushed to t's device before its next
// step.
func (t *Trainer) copyState(src *Trainer) error {
	w := src.weights()
	if err := t.setWeights(&w); err != nil {
		return err
	}
	t.pull, t.push = false, true
	return nil
}

func relDiff(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
