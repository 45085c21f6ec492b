package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// TestBenchQuality runs two tiny arms a few steps and checks the report's
// shape, that its figures are sane, and the files it leaves.
func TestBenchQuality(t *testing.T) {
	out := t.TempDir()
	o := qualityOptions{Dataset: "builtin:emoji", Res: 32, Arms: []string{"dcgan", "no-ema"}, Budget: time.Minute, StepsCap: 4,
		EvalEvery: 2, Samples: 16, Seed: 1, Width: 0.25, Batch: 8, Out: out}
	rep, err := runQuality(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Images != 110 || rep.FloorSWD <= 0 || rep.RealDiv <= 0 || rep.RealCopies < 0 || rep.RealCopies > 1 {
		t.Errorf("real data: %d images, floor %g, diversity %g, near-copies %g", rep.Images, rep.FloorSWD, rep.RealDiv, rep.RealCopies)
	}
	if len(rep.Arms) != 2 || rep.Arms[0].Arm != "dcgan" || rep.Arms[1].Arm != "no-ema" {
		t.Fatalf("arms %+v", rep.Arms)
	}
	for _, a := range rep.Arms {
		var steps []int
		var swds []float64
		for _, e := range a.Evals {
			steps, swds = append(steps, e.Step), append(swds, e.SWD)
		}
		if a.Steps != 4 || !slices.Equal(steps, []int{2, 4}) {
			t.Errorf("%s: %d steps, measured at %v; want 4, at 2 and 4", a.Arm, a.Steps, steps)
		}
		if a.BestSWD <= 0 || a.BestSWD > a.FinalSWD || a.BestSWD != slices.Min(swds) || !slices.Contains(steps, a.BestStep) {
			t.Errorf("%s: best SWD %g at step %d, final %g, measured %v", a.Arm, a.BestSWD, a.BestStep, a.FinalSWD, swds)
		}
		// TrainS is rounded to 0.1 s, which four tiny steps may not reach.
		if a.ImagesPerS <= 0 || a.TrainS < 0 || a.Batch != 8 || a.Width != 0.25 {
			t.Errorf("%s: %g images/s over %gs, batch %d, width %g", a.Arm, a.ImagesPerS, a.TrainS, a.Batch, a.Width)
		}
		for _, s := range []qualitySamples{a.Best, a.Final} {
			if s.NearCopies < 0 || s.NearCopies > 1 || s.Diversity <= 0 {
				t.Errorf("%s: samples %+v", a.Arm, s)
			}
		}
		for _, f := range []string{a.BestGrid, a.FinalGrid, a.Pairs} {
			decodePNG(t, filepath.Join(out, f))
		}
	}
	if a := rep.Arms[1]; a.EMA != 0 || a.Augment != spec.AugAuto || !a.Mirror {
		t.Errorf("no-ema: augment %s, EMA %g, mirror %v", a.Augment, a.EMA, a.Mirror)
	}
	// The real data's grid and one per arm, side by side under labels.
	cmp := decodePNG(t, filepath.Join(out, rep.Comparison))
	if b := cmp.Bounds(); b.Dx() < 3*(8*34+2) {
		t.Errorf("comparison is %d wide, too narrow for 3 grids", b.Dx())
	}
	readme, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	writeQualityTable(&table, rep)
	for _, text := range []string{string(readme), table.String()} {
		for _, want := range []string{"dcgan", "no-ema", "real data"} {
			if !strings.Contains(text, want) {
				t.Errorf("no %q in\n%s", want, text)
			}
		}
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"floor_swd", "real_near_copies", "arms", "comparison"} {
		if _, ok := back[key]; !ok {
			t.Errorf("JSON has no %q", key)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestQualityArms: each ablation is the studio's engine with exactly the
// part it names switched off, each candidate the engine with exactly its
// part changed, and dcgan the plain preset.
func TestQualityArms(t *testing.T) {
	studio := spec.Studio(32)
	for _, c := range []struct {
		arm  string
		want func(c *spec.Config) bool
	}{
		{"dcgan", func(c *spec.Config) bool { return !c.Augment.On() && c.EMA == 0 && !c.Mirror }},
		{"studio", func(c *spec.Config) bool { return *c == studio }},
		{"no-augment", func(c *spec.Config) bool { return !c.Augment.On() && c.EMA == studio.EMA && c.Mirror }},
		{"no-ema", func(c *spec.Config) bool { return c.Augment == studio.Augment && c.EMA == 0 && c.Mirror }},
		{"no-mirror", func(c *spec.Config) bool { return c.Augment == studio.Augment && c.EMA == studio.EMA && !c.Mirror }},
		{"no-color", func(c *spec.Config) bool {
			return !c.Augment.Has("color") && c.Augment.Has("translation") && c.Augment.Has("cutout")
		}},
		{"no-translation", func(c *spec.Config) bool {
			return c.Augment.Has("color") && !c.Augment.Has("translation") && c.Augment.Has("cutout")
		}},
		{"no-cutout", func(c *spec.Config) bool {
			return c.Augment.Has("color") && c.Augment.Has("translation") && !c.Augment.Has("cutout")
		}},
		{"hinge", func(c *spec.Config) bool { d := *c; d.Loss = ""; return c.Loss == spec.LossHinge && d == studio }},
		{"wide-d", func(c *spec.Config) bool {
			d := *c
			d.DWidth = 0
			return c.DiscWidth() == 2*studio.Width && d == studio
		}},
		{"ema-ramp", func(c *spec.Config) bool { d := *c; d.EMARamp = 0; return c.EMARampShare() == 0.3 && d == studio }},
		{"mbstd", func(c *spec.Config) bool { d := *c; d.MBStd = false; return c.MBStd && d == studio }},
		{"ttur", func(c *spec.Config) bool {
			d := *c
			d.LRD, d.LRG = studio.LRD, studio.LRG
			return c.LRD == 4e-4 && c.LRG == 1e-4 && d == studio
		}},
	} {
		i := slices.IndexFunc(qualityArms, func(a qualityArm) bool { return a.Name == c.arm })
		if i < 0 {
			t.Errorf("no arm %s", c.arm)
			continue
		}
		cfg, err := armConfig(qualityArms[i], qualityOptions{Res: 32, Seed: 1})
		if err != nil {
			t.Errorf("%s: %v", c.arm, err)
			continue
		}
		if !c.want(&cfg) {
			t.Errorf("%s: config %+v", c.arm, cfg)
		}
	}
	if len(qualityArms) != 13 {
		t.Errorf("%d arms, the test knows 13", len(qualityArms))
	}
}

func TestQualityOptionsRefused(t *testing.T) {
	ok := qualityOptions{Res: 32, Arms: []string{"dcgan"}, Budget: time.Second, EvalEvery: 1, Samples: 2}
	if err := ok.validate(); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*qualityOptions)
	}{
		{"res 48", func(o *qualityOptions) { o.Res = 48 }},
		{"no budget, no cap", func(o *qualityOptions) { o.Budget = 0 }},
		{"eval every 0", func(o *qualityOptions) { o.EvalEvery = 0 }},
		{"one sample", func(o *qualityOptions) { o.Samples = 1 }},
		{"no arm", func(o *qualityOptions) { o.Arms = nil }},
		{"unknown arm", func(o *qualityOptions) { o.Arms = []string{"dcgan", "stylegan"} }},
	} {
		o := ok
		c.edit(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s accepted", c.name)
		}
	}
}
