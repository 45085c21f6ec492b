package gan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan/kernels"
	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// deviceConfig is small enough for the emulator (a plain C loop for every
// kernel and GEMM) to take a few steps in seconds, with every layer kind
// of the reference networks: three upsampling stages, three strided
// convolutions, batch norm in both networks.
func deviceConfig() spec.Config {
	cfg, _ := spec.Preset("tiny")
	cfg.Batch = 8
	return cfg
}

// closeTo reports whether two figures agree to float32 rounding carried
// through a few training steps.
func closeTo(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// stepBoth takes one step on the CPU trainer and one on the device's, which
// must both be step number step, and compares their figures.
func stepBoth(t *testing.T, step int, cpu, dev *Trainer) {
	t.Helper()
	a, err := cpu.TrainStep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := dev.TrainStep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Step != step || b.Step != step {
		t.Fatalf("steps numbered %d on the spec.CPU and %d on the device, want %d", a.Step, b.Step, step)
	}
	compareStats(t, step, a, b)
}

func compareStats(t *testing.T, step int, cpu, dev spec.Stats) {
	t.Helper()
	for _, f := range []struct {
		name string
		a, b float64
	}{{"loss D", cpu.LossD, dev.LossD}, {"loss G", cpu.LossG, dev.LossG}, {"D(x)", cpu.DReal, dev.DReal}, {"D(G(z))", cpu.DFake, dev.DFake}} {
		if !closeTo(f.a, f.b, 1e-4) {
			t.Errorf("step %d: %s is %.6f on the spec.CPU, %.6f on the device", step, f.name, f.a, f.b)
		}
	}
}

func compareNets(t *testing.T, cpu, dev *Trainer) {
	t.Helper()
	if err := dev.sync(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		name string
		a, b *Net
	}{{"G", cpu.G, dev.G}, {"D", cpu.D, dev.D}} {
		d, where := maxDiff(n.a, n.b)
		t.Logf("%s: weights agree to %.2g (relative), worst at %s", n.name, d, where)
		if !(d < 1e-4) {
			t.Errorf("%s's weights differ by %.2g (relative) at %s", n.name, d, where)
		}
	}
	for name, r := range cpu.G.Running {
		o := dev.G.Running[name]
		for c := range r.Mean {
			if !closeTo(float64(r.Mean[c]), float64(o.Mean[c]), 1e-4) || !closeTo(float64(r.Var[c]), float64(o.Var[c]), 1e-4) {
				t.Fatalf("%s channel %d: running mean/var %g/%g on the spec.CPU, %g/%g on the device", name, c, r.Mean[c], r.Var[c], o.Mean[c], o.Var[c])
			}
		}
	}
	for i, m := range cpu.optD.M {
		for j := range m {
			if !closeTo(float64(m[j]), float64(dev.optD.M[i][j]), 1e-3) {
				t.Fatalf("D's Adam moment %s[%d]: %g on the spec.CPU, %g on the device", cpu.D.Names[i], j, m[j], dev.optD.M[i][j])
			}
		}
	}
}

// The device step is the CPU step: from the same seed, the GPU code path
// (run here by the emulator on the same kernel source the GPU runs) gives
// the same losses step after step, and the same weights, running
// statistics and Adam moments after them.
func TestDeviceStepMatchesCPU(t *testing.T) {
	cfg := deviceConfig()
	src := datasets.Shapes(64, cfg.Res, 1)
	emu := kernels.NewEmu()
	cpu, err := newTrainer(cfg, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	dev, err := newTrainer(cfg, src, emu)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Device() != "emu" || cpu.Device() != spec.CPU {
		t.Fatalf("devices %q and %q", cpu.Device(), dev.Device())
	}
	for step := 1; step <= 3; step++ {
		stepBoth(t, step, cpu, dev)
	}
	compareNets(t, cpu, dev)
	if !closeTo(cpu.dFakeSpread, dev.dFakeSpread, 1e-3) {
		t.Errorf("spread of D's verdicts on fakes: %g on the spec.CPU, %g on the device", cpu.dFakeSpread, dev.dFakeSpread)
	}
	// Sampling after device steps sees the device's weights.
	z := RandomLatents(4, cpu.cfg.ZDim, 9)
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
				t.Fatalf("sample %d value %d: %g from the spec.CPU's generator, %g from the device's", i, j, ia[i][j], ib[i][j])
			}
		}
	}
	dev.Close()
	if n := emu.Live(); n != 0 {
		t.Errorf("Close left %d device allocations", n)
	}
}

// Every feedback part (liked images in D's real batch, the disliked batch,
// the rating model's generator loss, training images the model likes in
// the real batch) computes the same on the device.
func TestDeviceStepMatchesCPUWithFeedback(t *testing.T) {
	cfg := deviceConfig()
	src := datasets.Shapes(64, cfg.Res, 1)
	r := rand.New(rand.NewPCG(3, 4))
	model, err := FitRatingModel(tinted(r, 8, cfg.Res, true), tinted(r, 8, cfg.Res, false), cfg.Res)
	if err != nil {
		t.Fatal(err)
	}
	fb := &Feedback{Liked: tinted(r, 6, cfg.Res, true), Disliked: tinted(r, 5, cfg.Res, false), Weight: 1, Methods: DefaultMethods | DataPick, Model: model}
	var trainers [2]*Trainer
	for i, dev := range []device{nil, kernels.NewEmu()} {
		tr, err := newTrainer(cfg, src, dev)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		// One plain step first: feedback joining a run already under way.
		if _, err := tr.TrainStep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := tr.SetFeedback(fb); err != nil {
			t.Fatal(err)
		}
		if tr.LikedData() == 0 {
			t.Fatal("the rating model likes none of the shapes: the test would not check the data method")
		}
		trainers[i] = tr
	}
	for step := 2; step <= 3; step++ {
		stepBoth(t, step, trainers[0], trainers[1])
	}
	compareNets(t, trainers[0], trainers[1])
}

// A checkpoint written on a device carries the device's weights and moments,
// and a trainer read from it on a device trains on from them: one more step
// from the same checkpoint matches on the CPU and on the device.
func TestDeviceCheckpointResumes(t *testing.T) {
	registerDevice("emu", func() (device, error) { return kernels.NewEmu(), nil })
	defer func() {
		SetDevice(spec.CPU)
		devMu.Lock()
		delete(devOpen, "emu")
		devMu.Unlock()
	}()
	if err := SetDevice("gpu9"); err == nil {
		t.Fatal("an unknown device was accepted")
	}
	if err := SetDevice("emu"); err != nil {
		t.Fatal(err)
	}
	if DeviceName() != "emu" || len(Devices()) != 2 {
		t.Fatalf("device %q of %v", DeviceName(), Devices())
	}
	cfg := deviceConfig()
	src := datasets.Shapes(64, cfg.Res, 1)
	tr, err := NewTrainer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := 0; i < 2; i++ {
		if _, err := tr.TrainStep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var ck bytes.Buffer
	if err := tr.WriteCheckpoint(&ck); err != nil {
		t.Fatal(err)
	}
	onDev, err := ReadCheckpoint(bytes.NewReader(ck.Bytes()), src)
	if err != nil {
		t.Fatal(err)
	}
	defer onDev.Close()
	SetDevice(spec.CPU)
	onCPU, err := ReadCheckpoint(bytes.NewReader(ck.Bytes()), src)
	if err != nil {
		t.Fatal(err)
	}
	defer onCPU.Close()
	if onDev.Device() != "emu" || onCPU.Device() != spec.CPU {
		t.Fatalf("read on %q and %q", onDev.Device(), onCPU.Device())
	}
	stepBoth(t, 3, onCPU, onDev)
	compareNets(t, onCPU, onDev)

	// The side-by-side check gpu-check.sh runs on a GPU.
	chk, err := CheckDevice(context.Background(), "emu", cfg, src, 2)
	if err != nil {
		t.Fatal(err)
	}
	if DeviceName() != spec.CPU {
		t.Errorf("CheckDevice left the device set to %q", DeviceName())
	}
	if len(chk.Steps) != 2 || !(chk.LossDiff < DeviceLossTolerance) || !(chk.WeightDiff < DeviceWeightTolerance) || chk.Where == "" {
		t.Errorf("device check: losses differ by %.2g, weights by %.2g at %s over %d steps", chk.LossDiff, chk.WeightDiff, chk.Where, len(chk.Steps))
	}
}

// maxDiff is the largest difference between two networks' parameters,
// relative to the largest parameter, and where it is.
func maxDiff(a, b *Net) (float64, string) {
	var worst, scale float64
	where := ""
	for i, p := range a.Params {
		x, y := nn.F32(p), nn.F32(b.Params[i])
		for j := range x {
			scale = math.Max(scale, math.Abs(float64(x[j])))
			if d := math.Abs(float64(x[j] - y[j])); d > worst || where == "" {
				worst, where = d, fmt.Sprintf("%s[%d]", a.Names[i], j)
			}
		}
	}
	return worst / scale, where
}

// A configuration whose buffers the kernels' 32-bit indices cannot cover
// is refused with a clear error, before any memory is allocated.
func TestDeviceRefusesOversizedRun(t *testing.T) {
	cfg := spec.DefaultConfig()
	cfg.Res, cfg.Width, cfg.Batch = 64, 4, 1024
	emu := kernels.NewEmu()
	_, err := newTrainer(cfg, noiseSource{64}, emu)
	if err == nil || !strings.Contains(err.Error(), "smaller batch or model size") {
		t.Fatalf("got %v, want the run refused", err)
	}
	if emu.Live() != 0 {
		t.Errorf("%d allocations made for a refused run", emu.Live())
	}
}

// A device lost to a fault (as a CUDA context is after an illegal address)
// makes every later call fail with ErrDeviceLost, so the worker can tell
// a broken GPU from a broken run.
func TestDeviceLost(t *testing.T) {
	cfg := deviceConfig()
	emu := kernels.NewEmu()
	tr, err := newTrainer(cfg, noiseSource{cfg.Res}, emu)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.TrainStep(context.Background()); err != nil {
		t.Fatal(err)
	}
	emu.Break(errors.New("IllegalAddress"))
	if _, err := tr.TrainStep(context.Background()); !errors.Is(err, ErrDeviceLost) {
		t.Errorf("step on a lost device: %v", err)
	}
	if _, err := tr.Generator().Generate(RandomLatents(2, tr.cfg.ZDim, 1)); !errors.Is(err, ErrDeviceLost) {
		t.Errorf("sampling after the device was lost: %v", err)
	}
	if _, err := newTrainer(cfg, noiseSource{cfg.Res}, emu); !errors.Is(err, ErrDeviceLost) {
		t.Errorf("a new trainer on a lost device: %v", err)
	}
}
