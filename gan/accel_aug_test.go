package gan

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan/kernels"
	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// studioDeviceConfig is the studio's engine (augmentation, the generator's
// average, mirrored data) at the emulator's size.
func studioDeviceConfig(aug spec.Augment) spec.Config {
	cfg := spec.Studio(32)
	cfg.Width, cfg.Batch, cfg.ZDim = 0.25, 8, 64
	cfg.Augment = aug
	return cfg
}

// emaStart is the step both trainers of the augmentation test start from.
// From step 0 the average's ramp-up keeps its β near 0 (the average is the
// live weights to a millionth), which a device that got β wrong would
// pass; by step 40 β is about 0.7 and moves with the step.
const emaStart = 40

// The device step with augmentation, ADA's control, the generator's
// average and mirrored data is the CPU step: the same losses, strength and
// r_t every step, and the same weights, average and samples after them.
func TestDeviceStepMatchesCPUWithAugmentation(t *testing.T) {
	auto := spec.AutoAugment()
	// Start halfway and move fast, so transforms are drawn and the
	// strength moves within the test's few steps.
	auto.P, auto.Speed = 0.5, 1000
	for _, c := range []struct {
		name     string
		aug      spec.Augment
		feedback bool   // the disliked batch is augmented too
		loss     string // the GAN loss, if not the default
		mbstd    bool   // D sees the batch's spread
	}{
		{"fixed", spec.Augment{Mode: spec.AugFixed, P: 0.5}, false, "", false},
		{"auto", auto, false, "", false},
		{"fixed with feedback", spec.Augment{Mode: spec.AugFixed, P: 0.5, Ops: "translation,cutout,color"}, true, "", false},
		// The hinge's gradient is a step function of each logit, so a
		// device that got its sign or its margin wrong parts at once;
		// the discriminator is twice as wide as the generator here.
		{"hinge and a wide D, with feedback", auto, true, spec.LossHinge, false},
		// Minibatch stddev in all three of D's passes (real, fake and
		// disliked batches) and in G's step.
		{"minibatch stddev, with feedback", auto, true, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := studioDeviceConfig(c.aug)
			cfg.Loss, cfg.MBStd = c.loss, c.mbstd
			if c.loss != "" {
				cfg.DWidth = 2 * cfg.Width
			}
			src := datasets.Shapes(64, cfg.Res, 1)
			var trs [2]*Trainer
			for i, dev := range []device{nil, kernels.NewEmu()} {
				tr, err := newTrainer(cfg, src, dev)
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				tr.step = emaStart
				if c.feedback {
					r := rand.New(rand.NewPCG(3, 4))
					model, err := FitRatingModel(tinted(r, 8, cfg.Res, true), tinted(r, 8, cfg.Res, false), cfg.Res)
					if err != nil {
						t.Fatal(err)
					}
					// The data method too, but not with the hinge: with it
					// one of D's Adam moments parted by 1% (the weights
					// 8.5e-6 apart), most likely a logit within rounding
					// of the margin, where the hinge's gradient steps. The
					// data method fills the batch on the host; the other
					// cases check it.
					m := DefaultMethods | DataPick
					if c.loss == spec.LossHinge {
						m = DefaultMethods
					}
					fb := &Feedback{Liked: tinted(r, 6, cfg.Res, true), Disliked: tinted(r, 5, cfg.Res, false), Weight: 1, Methods: m, Model: model}
					if err := tr.SetFeedback(fb); err != nil {
						t.Fatal(err)
					}
				}
				trs[i] = tr
			}
			cpu, dev := trs[0], trs[1]
			const steps = 5 // past one of ADA's intervals (spec.AugInterval)
			drawn := 0
			for step := emaStart + 1; step <= emaStart+steps; step++ {
				a, err := cpu.TrainStep(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				b, err := dev.TrainStep(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				compareStats(t, step, a, b)
				if a.AugP != b.AugP || a.RT != b.RT {
					t.Errorf("step %d: strength %g and r_t %g on the CPU, %g and %g on the device", step, a.AugP, a.RT, b.AugP, b.RT)
				}
				for _, x := range [][]nn.AugParams{dev.aug.real.P, dev.aug.fake.P, dev.aug.gen.P, dev.aug.neg.P} {
					for _, p := range x {
						if p != nn.NoAug {
							drawn++
						}
					}
				}
			}
			if drawn == 0 {
				t.Fatal("no transform was drawn: the test compares nothing of the augmentation")
			}
			pc, rc := cpu.AugStrength()
			pd, rd := dev.AugStrength()
			t.Logf("%d images transformed; strength %g, r_t %g", drawn, pc, rc)
			if pc != pd || rc != rd || cpu.aug.ada.RTN != dev.aug.ada.RTN || cpu.aug.ada.RTSum != dev.aug.ada.RTSum {
				t.Errorf("ADA's state: strength %g, r_t %g on the CPU; %g, %g on the device", pc, rc, pd, rd)
			}
			if c.aug.Mode == spec.AugAuto && pc == c.aug.P {
				t.Errorf("the strength stayed at %g: ADA's control never ran", pc)
			}
			compareNets(t, cpu, dev)
			compareEMA(t, cpu, dev)

			// Samples come from the average, brought back from the device.
			z := RandomLatents(4, cfg.ZDim, 9)
			ia, err := cpu.Generator().Generate(z)
			if err != nil {
				t.Fatal(err)
			}
			ib, err := dev.Generator().Generate(z)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ia {
				for j := range ia[i] {
					if !closeTo(float64(ia[i][j]), float64(ib[i][j]), 1e-3) {
						t.Fatalf("sample %d value %d: %g from the CPU's generator, %g from the device's", i, j, ia[i][j], ib[i][j])
					}
				}
			}
			resumeOnBoth(t, dev, src, emaStart+steps+1)
		})
	}
}

// resumeOnBoth checks that a checkpoint of tr (on a device) carries the
// average and ADA's state out of the device, and that a trainer read from
// it on a device takes them in: one more step from it matches on the CPU
// and on the emulator.
func resumeOnBoth(t *testing.T, tr *Trainer, src Source, step int) {
	t.Helper()
	var ck bytes.Buffer
	if err := tr.WriteCheckpoint(&ck); err != nil {
		t.Fatal(err)
	}
	registerDevice("emu", func() (device, error) { return kernels.NewEmu(), nil })
	defer func() {
		SetDevice(spec.CPU)
		devMu.Lock()
		delete(devOpen, "emu")
		devMu.Unlock()
	}()
	var trs [2]*Trainer
	for i, name := range []string{spec.CPU, "emu"} {
		if err := SetDevice(name); err != nil {
			t.Fatal(err)
		}
		r, err := ReadCheckpoint(bytes.NewReader(ck.Bytes()), src)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Device() != name {
			t.Fatalf("checkpoint read on %s, want %s", r.Device(), name)
		}
		trs[i] = r
	}
	stepBoth(t, step, trs[0], trs[1])
	compareNets(t, trs[0], trs[1])
	compareEMA(t, trs[0], trs[1])
	pc, rc := trs[0].AugStrength()
	pd, rd := trs[1].AugStrength()
	if pc != pd || rc != rd {
		t.Errorf("after resuming: strength %g, r_t %g on the CPU; %g, %g on the device", pc, rc, pd, rd)
	}
}

// compareEMA checks the generator's averages agree, both as weights and
// as the average's own movement: how far the two averages are apart,
// relative to how far the CPU's average is from its live weights (what
// β decides), so a wrong β shows even where the weights all but agree.
func compareEMA(t *testing.T, cpu, dev *Trainer) {
	t.Helper()
	d, where := maxDiff(cpu.Gema, dev.Gema)
	apart, lag := maxAbsDiff(cpu.Gema, dev.Gema), maxAbsDiff(cpu.Gema, cpu.G)
	t.Logf("average: agrees to %.2g (relative to the weights), %.2g of its lag behind the weights, worst at %s", d, apart/lag, where)
	if !(d < 1e-4) || !(apart < 3e-3*lag) {
		t.Errorf("the averages differ by %.2g (relative), %.2g of the average's lag, at %s", d, apart/lag, where)
	}
}

func maxAbsDiff(a, b *Net) float64 {
	var worst float64
	for i, p := range a.Params {
		x, y := nn.F32(p), nn.F32(b.Params[i])
		for j := range x {
			worst = math.Max(worst, math.Abs(float64(x[j]-y[j])))
		}
	}
	return worst
}

// The side-by-side check (ganstudio bench device) covers the studio's
// engine too, the average among the weights it compares.
func TestCheckDeviceWithAugmentation(t *testing.T) {
	registerDevice("emu", func() (device, error) { return kernels.NewEmu(), nil })
	defer func() {
		devMu.Lock()
		delete(devOpen, "emu")
		devMu.Unlock()
	}()
	cfg := studioDeviceConfig(spec.Augment{Mode: spec.AugFixed, P: 0.5})
	chk, err := CheckDevice(context.Background(), "emu", cfg, datasets.Shapes(64, cfg.Res, 1), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("losses differ by %.2g, weight updates by %.2g at %s", chk.LossDiff, chk.WeightDiff, chk.Where)
	if len(chk.Steps) != 2 || !(chk.LossDiff < DeviceLossTolerance) || !(chk.WeightDiff < DeviceWeightTolerance) {
		t.Errorf("device check: losses differ by %.2g, weights by %.2g at %s over %d steps", chk.LossDiff, chk.WeightDiff, chk.Where, len(chk.Steps))
	}
}
