package gan

import (
	"context"
	"math"
	"testing"

	"github.com/ganstudio/ganstudio/gan/kernels"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// bigConfig is the tiny preset at a side past the 32 and 64 px the engine
// was first built for, with a batch small enough to step in seconds.
func bigConfig(res int) spec.Config {
	cfg, _ := spec.Preset("tiny")
	cfg.Res, cfg.Batch = res, 4
	return cfg
}

// The networks are built from the side alone (stages): at 128 px the
// generator has five upsampling stages and draws 128×128 images, the
// discriminator takes them, and a training step gives finite figures.
func TestTrainerAt128(t *testing.T) {
	cfg := bigConfig(128)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(cfg, noiseSource{128})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := len(genChannels(cfg)); got != 6 { // 4, 8, 16, 32, 64, 128
		t.Errorf("generator has %d stages of channels, want 6 from 4×4 to 128×128", got)
	}
	st, err := tr.TrainStep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"loss D": st.LossD, "loss G": st.LossG, "D(x)": st.DReal, "D(G(z))": st.DFake} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("step 1: %s is %g", name, v)
		}
	}
	imgs, err := tr.Generator().Generate(RandomLatents(2, cfg.ZDim, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || len(imgs[0]) != 3*128*128 {
		t.Fatalf("generated %d images of %d values, want 2 of %d", len(imgs), len(imgs[0]), 3*128*128)
	}
}

// 256 px builds and draws too (a step there is slow on the CPU; the side
// is what is checked).
func TestGeneratorAt256(t *testing.T) {
	cfg := bigConfig(256)
	tr, err := NewTrainer(cfg, noiseSource{256})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	imgs, err := tr.Generator().Generate(RandomLatents(1, cfg.ZDim, 1))
	if err != nil || len(imgs[0]) != 3*256*256 {
		t.Fatalf("256 px generator: %v", err)
	}
}

// The device path lays out its buffers from the side too: at 128 px the
// emulated device's step is the CPU's.
func TestDeviceStepMatchesCPUAt128(t *testing.T) {
	cfg := bigConfig(128)
	src := noiseSource{128}
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
	defer dev.Close()
	stepBoth(t, 1, cpu, dev)
}
