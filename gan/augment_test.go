package gan

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// studioTiny is the studio's engine at the tiny preset's size: every new
// part on, the augmentation at a strength that draws transforms at once.
func studioTiny(aug spec.Augment) spec.Config {
	c := spec.Studio(32)
	tiny, _ := spec.Preset("tiny")
	c.Width, c.ZDim, c.Batch = tiny.Width, tiny.ZDim, 8
	c.Augment = aug
	return c
}

func newTrainerT(t *testing.T, c spec.Config) *Trainer {
	t.Helper()
	tr, err := NewTrainer(c, noiseSource{32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// A run with augmentation, the average and mirrored data resumes exactly:
// the strength, r_t's sums and the average come back with the weights.
func TestStudioCheckpointExactResume(t *testing.T) {
	for _, aug := range []spec.Augment{{Mode: spec.AugFixed, P: 0.5}, {Mode: spec.AugAuto, P: 0.2, Target: 0.6, Speed: 1000}} {
		t.Run(aug.String(), func(t *testing.T) {
			cfg := studioTiny(aug)
			want := steps(t, newTrainerT(t, cfg), 10)
			first := newTrainerT(t, cfg)
			steps(t, first, 5)
			path := filepath.Join(t.TempDir(), "ck.gob")
			if err := first.SaveCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			resumed, err := LoadCheckpoint(path, noiseSource{32})
			if err != nil {
				t.Fatal(err)
			}
			defer resumed.Close()
			if p, _ := resumed.AugStrength(); p != first.aug.ada.P {
				t.Fatalf("strength %g after resume, %g before", p, first.aug.ada.P)
			}
			got := steps(t, resumed, 5)
			for i := range got {
				if got[i] != want[5+i] {
					t.Fatalf("step %d after resume: %+v, uninterrupted run had %+v", got[i].Step, got[i], want[5+i])
				}
			}
			if aug.Mode == spec.AugAuto && want[9].AugP == want[0].AugP {
				t.Fatalf("auto strength never moved in 10 steps: %g", want[9].AugP)
			}
		})
	}
}

// On a set small enough to memorise, D grows sure of the real images (r_t
// above the target) and ADA raises the strength to answer it; a fixed
// strength stays put while r_t is measured all the same.
func TestAugStrengthRisesOnMemorisingRun(t *testing.T) {
	for _, aug := range []spec.Augment{{Mode: spec.AugAuto, P: 0.1, Target: 0.6, Speed: 2000}, {Mode: spec.AugFixed, P: 0.1}} {
		tr := newTrainerT(t, studioTiny(aug))
		// 80 steps: long enough for either loss (a hinge D takes some 20
		// steps longer to be sure of every real image).
		st := steps(t, tr, 80)
		first, last := st[0], st[len(st)-1]
		t.Logf("%s: r_t %.2f, strength %.3f → %.3f, D(x) %.2f", aug, last.RT, first.AugP, last.AugP, last.DReal)
		if last.RT <= 0.6 {
			t.Errorf("%s: r_t %.2f on a memorised set of 10 images", aug, last.RT)
		}
		if aug.Mode == spec.AugAuto && last.AugP < first.AugP+0.1 {
			t.Errorf("memorising run: strength %.3f → %.3f; want it up by 0.1 or more", first.AugP, last.AugP)
		}
		if aug.Mode == spec.AugFixed && last.AugP != aug.P {
			t.Errorf("fixed strength moved to %.3f", last.AugP)
		}
	}
}

// The average's weights differ from the live ones, and they are what
// every image shown is made with: the trainer's generator and one loaded
// from its checkpoint agree with each other, not with the live weights.
func TestEMAIsWhatSamplesUse(t *testing.T) {
	tr := newTrainerT(t, studioTiny(spec.Augment{Mode: spec.AugOff}))
	steps(t, tr, 12)
	if d, name := maxDiff(tr.G, tr.Gema); d == 0 {
		t.Fatal("the average equals the live weights after 12 steps")
	} else {
		t.Logf("largest live − average difference %.3g (%s)", d, name)
	}
	path := filepath.Join(t.TempDir(), "ck.gob")
	if err := tr.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	z := RandomLatents(4, tr.cfg.ZDim, 3)
	gen := func(g *Generator, err error) []float32 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := g.Generate(z)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Concat(imgs...)
	}
	own := gen(tr.Generator(), nil)
	loaded := gen(LoadGenerator(path))
	live := gen(LoadLiveGenerator(path))
	if !slices.Equal(own, loaded) {
		t.Fatal("the trainer's generator and the checkpoint's differ")
	}
	if slices.Equal(own, live) {
		t.Fatal("samples come from the live weights, not the average")
	}
}

// The best step follows the lowest SWD; a run that has not improved for
// the patience says so once, and with StopWhenStale ends there.
func TestLoopTracksBestQuality(t *testing.T) {
	swd := map[int]float64{0: 100, 2: 60, 4: 50, 6: 55, 8: 70, 10: 65, 12: 40}
	testQuality = func(step int) float64 { return swd[step] }
	defer func() { testQuality = nil }()
	for _, stop := range []bool{false, true} {
		t.Run(fmt.Sprint("stop=", stop), func(t *testing.T) {
			tr := tinyTrainer(t, 2)
			out := &memOutside{ckpt: map[int][]byte{}}
			var snaps []*Snapshot
			rec := &snapOutside{memOutside: out, snaps: &snaps}
			l := NewLoop(tr, Plan{Steps: 12, Fresh: true, SnapshotEvery: 2, EvalEvery: 2, Patience: 4, StopWhenStale: stop}, rec)
			if err := l.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer l.Trainer().Close()
			wantBest := map[int]bool{0: true, 2: true, 4: true, 12: true}
			for _, sn := range snaps {
				if sn.Best != wantBest[sn.Step] {
					t.Errorf("step %d (SWD %g): best %v", sn.Step, sn.SWD, sn.Best)
				}
			}
			told := strings.Join(out.log, "\n")
			if strings.Count(told, "has not improved") != 1 || !strings.Contains(told, "50.0 at step 4") {
				t.Errorf("events:\n%s\nwant one saying quality stopped improving at step 4", told)
			}
			b := l.Trainer().Best()
			if stop {
				if l.Trainer().Step() != 8 || b.Step != 4 || !strings.Contains(told, "done 8") {
					t.Errorf("stopped at step %d with best %d; want 8 and 4:\n%s", l.Trainer().Step(), b.Step, told)
				}
			} else if b.Step != 12 || b.SWD != 40 {
				t.Errorf("best %+v, want step 12 SWD 40", b)
			}
			// The best is in the checkpoint.
			back, err := ReadCheckpoint(bytes.NewReader(out.ckpt[l.Trainer().Step()]), noiseSource{32})
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if back.Best() != b {
				t.Errorf("checkpoint's best %+v, trainer's %+v", back.Best(), b)
			}
		})
	}
}

// snapOutside keeps every snapshot besides what memOutside does.
type snapOutside struct {
	*memOutside
	snaps *[]*Snapshot
}

func (s *snapOutside) Snapshot(ctx context.Context, sn *Snapshot) error {
	*s.snaps = append(*s.snaps, sn)
	return s.memOutside.Snapshot(ctx, sn)
}

// The average's half-life grows with the images seen, at the ramp-up share
// (ADA's 0.05 unless the config sets one), until it reaches cfg.EMA.
func TestEMABetaRampUp(t *testing.T) {
	half := func(c spec.Config, step int) float64 {
		// β = 0.5^(batch/half), so half = batch·ln 0.5 / ln β.
		return float64(c.Batch) * math.Log(0.5) / math.Log(emaBeta(c, step))
	}
	c := spec.Studio(32) // batch 64, half-life 10,000 images
	for _, r := range []struct {
		ramp float64
		step int
		want float64
	}{
		{0, 99, 0.05 * 6400},     // ADA's ramp-up: 320 images after 6,400
		{0, 3199, 10_000},        // 204,800 images seen: the full half-life
		{0.3, 99, 0.3 * 6400},    // a longer ramp-up: 1,920
		{0.3, 999, 10_000},       // reached by 33,333 images
		{0.05, 3199, 10_000},     // set to ADA's value explicitly
		{1, 9, min(10_000, 640)}, // the whole run so far
	} {
		c.EMARamp = r.ramp
		if got := half(c, r.step); math.Abs(got-r.want) > 1e-6*r.want {
			t.Errorf("ramp-up %g, step %d: half-life %.1f images, want %.1f", r.ramp, r.step, got, r.want)
		}
	}
	c.EMA = 0
	if b := emaBeta(c, 1000); b != 0 {
		t.Errorf("with no average β is %g, want 0 (the live weights)", b)
	}
}
