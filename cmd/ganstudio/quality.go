package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// qualityArm is one engine 'bench quality' trains: a preset with one change.
type qualityArm struct {
	Name string
	What string
	ref  bool // from the plain DCGAN preset rather than the studio's
	edit func(*spec.Config)
}

// withoutOp is the studio's augmentation less one of its transforms.
func withoutOp(op string) func(*spec.Config) {
	return func(c *spec.Config) {
		c.Augment.Ops = strings.Join(slices.DeleteFunc(slices.Clone(spec.AugOps), func(o string) bool { return o == op }), ",")
	}
}

// qualityArms: the plain DCGAN, the studio's engine, and the studio's
// engine with each of its parts switched off once, so each part's share of
// the difference shows.
var qualityArms = []qualityArm{
	{Name: "dcgan", What: "the reference DCGAN (ref preset): no augmentation, no EMA, no mirror", ref: true},
	{Name: "studio", What: "the studio's engine (studio preset): ADA-steered DiffAugment, EMA, mirror"},
	{Name: "no-augment", What: "studio without augmentation", edit: func(c *spec.Config) { c.Augment = spec.Augment{Mode: spec.AugOff} }},
	{Name: "no-ema", What: "studio without the generator average", edit: func(c *spec.Config) { c.EMA = 0 }},
	{Name: "no-mirror", What: "studio without mirrored data", edit: func(c *spec.Config) { c.Mirror = false }},
	{Name: "no-color", What: "studio's augmentation without colour", edit: withoutOp("color")},
	{Name: "no-translation", What: "studio's augmentation without translation", edit: withoutOp("translation")},
	{Name: "no-cutout", What: "studio's augmentation without cutout", edit: withoutOp("cutout")},
	// Candidates tried for the default, each the studio with one part
	// changed (measured and not chosen: README).
	{Name: "hinge", What: "studio with the hinge loss", edit: func(c *spec.Config) { c.Loss = spec.LossHinge }},
	{Name: "wide-d", What: "studio with a discriminator twice as wide", edit: func(c *spec.Config) { c.DWidth = 2 * c.DiscWidth() }},
	{Name: "ema-ramp", What: "studio with the average's half-life reaching 10,000 images by 33,000 images seen (ramp-up 0.3, not 0.05)", edit: func(c *spec.Config) { c.EMARamp = 0.3 }},
	{Name: "mbstd", What: "studio with the batch's spread as one more channel in D (minibatch standard deviation)", edit: func(c *spec.Config) { c.MBStd = true }},
	{Name: "ttur", What: "studio with D's learning rate 4e-4 and G's 1e-4 (two time-scales)", edit: func(c *spec.Config) { c.LRD, c.LRG = 4e-4, 1e-4 }},
}

func qualityArmNames() []string {
	var names []string
	for _, a := range qualityArms {
		names = append(names, a.Name)
	}
	return names
}

// qualityOptions are 'bench quality's flags.
type qualityOptions struct {
	Dataset   string
	Res       int
	Arms      []string
	Budget    time.Duration // training time per arm, evaluations not counted
	StepsCap  int           // 0: no cap
	EvalEvery int
	Samples   int // generated images for diversity and near-copies
	Seed      uint64
	Width     float64 // 0: the presets'
	Batch     int     // 0: the presets'
	Out       string
}

// qualityEval is one quality measurement during an arm's run.
type qualityEval struct {
	Step    int     `json:"step"`
	SWD     float64 `json:"swd"`
	AugP    float64 `json:"aug_p"`
	RT      float64 `json:"r_t"`
	Seconds float64 `json:"train_s"` // training time so far
}

// qualitySamples are the figures of one generator's samples.
type qualitySamples struct {
	Diversity  float64 `json:"diversity"`   // mean pairwise distance of the samples
	NearCopies float64 `json:"near_copies"` // share nearer a training image than its own neighbour
}

// qualityArmResult is one arm's report.
type qualityArmResult struct {
	Arm        string         `json:"arm"`
	What       string         `json:"what"`
	Augment    string         `json:"augment"`
	AugOps     string         `json:"augment_ops,omitempty"`
	EMA        float64        `json:"ema"`
	Loss       string         `json:"loss,omitempty"`
	Mirror     bool           `json:"mirror"`
	Width      float64        `json:"width"`
	Batch      int            `json:"batch"`
	Steps      int            `json:"steps"`
	TrainS     float64        `json:"train_s"`
	ImagesPerS float64        `json:"images_per_s"`
	BestSWD    float64        `json:"best_swd"`
	BestStep   int            `json:"best_step"`
	FinalSWD   float64        `json:"final_swd"`
	Best       qualitySamples `json:"at_best"`
	Final      qualitySamples `json:"at_end"`
	FinalAugP  float64        `json:"final_aug_p"`
	FinalRT    float64        `json:"final_r_t"`
	Evals      []qualityEval  `json:"evals"`
	BestGrid   string         `json:"best_grid"`
	FinalGrid  string         `json:"final_grid"`
	Pairs      string         `json:"pairs"` // the samples nearest the data, above their nearest training images
}

// qualityReport is what 'ganstudio bench quality --json' prints.
type qualityReport struct {
	Dataset   string  `json:"dataset"`
	Images    int     `json:"images"`
	Res       int     `json:"res"`
	BudgetS   float64 `json:"budget_s"`
	StepsCap  int     `json:"steps_cap"`
	EvalEvery int     `json:"eval_every"`
	Samples   int     `json:"samples"`
	Seed      uint64  `json:"seed"`
	BLAS      string  `json:"blas"`
	Threads   int     `json:"threads"`
	// Load is the machine's 1-minute load average at the start and the end:
	// a budget of wall-clock training time buys fewer steps on a shared
	// machine, and this says how shared it was.
	Load       [2]float64 `json:"load_avg"`
	FloorSWD   float64    `json:"floor_swd"`      // real against real: the best SWD can be
	RealDiv    float64    `json:"real_diversity"` // mean pairwise distance of the training images
	RealCopies float64    `json:"real_near_copies"`
	// RealCopies is the near-copy share of the training images held out in
	// turn: what samples of the data itself would score.
	Arms       []qualityArmResult `json:"arms"`
	Comparison string             `json:"comparison"`
	Summary    string             `json:"summary"`
}

func qualityCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench quality", flag.ContinueOnError)
	var o qualityOptions
	fs.StringVar(&o.Dataset, "dataset", "builtin:emoji", "builtin:emoji, builtin:openmoji, builtin:shapes, or a folder or .zip of images")
	fs.IntVar(&o.Res, "res", 32, "resolution, 32 or 64")
	arms := fs.String("arms", strings.Join(qualityArmNames(), ","), "which arms, comma-separated")
	fs.DurationVar(&o.Budget, "budget", 10*time.Minute, "training time per arm (evaluations not counted)")
	fs.IntVar(&o.StepsCap, "steps-cap", 0, "stop an arm at this step even within its budget (0: no cap)")
	fs.IntVar(&o.EvalEvery, "eval-every", 100, "measure SWD every N steps (and at the end)")
	fs.IntVar(&o.Samples, "samples", 256, "generated images for diversity and near-copies")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of every arm (weights, batches, latents)")
	fs.Float64Var(&o.Width, "width", 0, "channel width multiplier (default: the presets')")
	fs.IntVar(&o.Batch, "batch", 0, "batch size (default: the presets')")
	fs.StringVar(&o.Out, "out", "bench-quality", "folder for the grids, the comparison and README.md")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	for _, a := range strings.Split(*arms, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Arms = append(o.Arms, a)
		}
	}
	rep, err := runQuality(ctx, o, os.Stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	writeQualityTable(os.Stdout, rep)
	return nil
}

func (o qualityOptions) validate() error {
	if o.Res != 32 && o.Res != 64 {
		return fmt.Errorf("--res must be 32 or 64, not %d", o.Res)
	}
	if o.Budget <= 0 && o.StepsCap <= 0 {
		return fmt.Errorf("--budget or --steps-cap must be positive")
	}
	if o.EvalEvery < 1 || o.Samples < 2 || o.StepsCap < 0 {
		return fmt.Errorf("--eval-every must be at least 1, --samples at least 2, --steps-cap at least 0")
	}
	if len(o.Arms) == 0 {
		return fmt.Errorf("--arms names no arm (have %s)", strings.Join(qualityArmNames(), ", "))
	}
	for _, a := range o.Arms {
		if !slices.Contains(qualityArmNames(), a) {
			return fmt.Errorf("unknown arm %q (have %s)", a, strings.Join(qualityArmNames(), ", "))
		}
	}
	return nil
}

// runQuality trains each arm for the same training time and measures it,
// writing the grids, the comparison and README.md under o.Out; progress
// lines go to progress.
func runQuality(ctx context.Context, o qualityOptions, progress io.Writer) (*qualityReport, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	ds, err := loadDataset(ctx, o.Dataset, o.Res)
	if err != nil {
		return nil, err
	}
	if ds.Len() < 3 {
		return nil, fmt.Errorf("dataset %s: %d images, near-copies need at least 3", o.Dataset, ds.Len())
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("bench quality: %w", err)
	}
	floor, err := gan.QualityFloor(ds)
	if err != nil {
		return nil, fmt.Errorf("real-vs-real floor: %w", err)
	}
	train := make([][]float32, ds.Len())
	for i := range train {
		train[i] = ds.Float(i)
	}
	rep := &qualityReport{Dataset: o.Dataset, Images: ds.Len(), Res: o.Res, BudgetS: o.Budget.Seconds(), StepsCap: o.StepsCap,
		EvalEvery: o.EvalEvery, Samples: o.Samples, Seed: o.Seed, BLAS: gan.BLASName, Threads: runtime.GOMAXPROCS(0),
		FloorSWD: round1(floor.Mean), RealDiv: round2(gan.MeanPairwiseDistance(train))}
	rep.Load[0] = loadAvg()
	index := gan.NewCopyIndex(train)
	rep.RealCopies = round3(index.Baseline)
	var grids []*image.NRGBA
	for _, name := range o.Arms {
		i := slices.IndexFunc(qualityArms, func(a qualityArm) bool { return a.Name == name })
		r, grid, err := trainArm(ctx, qualityArms[i], o, ds, index, progress)
		if err != nil {
			return nil, fmt.Errorf("arm %s: %w", name, err)
		}
		rep.Arms = append(rep.Arms, r)
		grids = append(grids, grid)
	}
	rep.Load[1] = loadAvg()
	if err := writeQualityFiles(rep, grids, realGrid(train, o.Res, o.Seed), o.Out); err != nil {
		return nil, err
	}
	return rep, nil
}

// armConfig is the arm's configuration at the bench's resolution and seed.
func armConfig(a qualityArm, o qualityOptions) (spec.Config, error) {
	cfg := spec.Studio(o.Res)
	if a.ref {
		var err error
		if cfg, err = spec.Preset(fmt.Sprintf("ref%d", o.Res)); err != nil {
			return cfg, err
		}
	}
	if a.edit != nil {
		a.edit(&cfg)
	}
	cfg.Seed = o.Seed
	setIf(&cfg.Width, o.Width)
	setIf(&cfg.Batch, o.Batch)
	return cfg, cfg.Validate()
}

// trainArm runs one arm to its budget, measuring SWD every EvalEvery steps
// and at the end; it returns the report and the final grid.
func trainArm(ctx context.Context, a qualityArm, o qualityOptions, ds *datasets.Dataset, index *gan.CopyIndex, progress io.Writer) (qualityArmResult, *image.NRGBA, error) {
	cfg, err := armConfig(a, o)
	if err != nil {
		return qualityArmResult{}, nil, err
	}
	r := qualityArmResult{Arm: a.Name, What: a.What, Augment: cfg.Augment.String(), AugOps: cfg.Augment.Ops, EMA: cfg.EMA, Loss: cfg.Loss,
		Mirror: cfg.Mirror, Width: cfg.Width, Batch: cfg.Batch, BestSWD: -1}
	if cfg.Augment.On() && r.AugOps == "" {
		r.AugOps = strings.Join(spec.AugOps, ",")
	}
	tr, err := gan.NewTrainer(cfg, ds)
	if err != nil {
		return r, nil, err
	}
	defer tr.Close()
	// The same latents for every arm and every measurement, so samples
	// are comparable across arms and along a run.
	z := gan.RandomLatents(o.Samples, cfg.ZDim, o.Seed^0x5a3b)
	var spent time.Duration
	var last spec.Stats
	var bestGrid, grid *image.NRGBA
	var nearest gan.NearCopies
	var samples [][]float32
	measure := func() error {
		q, err := tr.Quality()
		if err != nil {
			return fmt.Errorf("quality at step %d: %w", tr.Step(), err)
		}
		e := qualityEval{Step: tr.Step(), SWD: round1(q.Mean), AugP: round3(last.AugP), RT: round3(last.RT), Seconds: round1(spent.Seconds())}
		r.Evals = append(r.Evals, e)
		fmt.Fprintf(progress, "%s: step %d, %.0fs trained, SWD %.1f, p %.2f\n", a.Name, e.Step, e.Seconds, e.SWD, e.AugP)
		if r.BestSWD >= 0 && q.Mean >= r.BestSWD {
			return nil
		}
		r.BestSWD, r.BestStep = q.Mean, tr.Step()
		if bestGrid, err = tr.Generator().GridImage(); err != nil {
			return err
		}
		r.Best, _, _, err = sampleFigures(tr.Generator(), z, index)
		return err
	}
	for (o.Budget <= 0 || spent < o.Budget) && (o.StepsCap == 0 || tr.Step() < o.StepsCap) {
		t0 := time.Now()
		if last, err = tr.TrainStep(ctx); err != nil {
			return r, nil, err
		}
		spent += time.Since(t0)
		if tr.Step()%o.EvalEvery == 0 {
			if err := measure(); err != nil {
				return r, nil, err
			}
		}
	}
	if len(r.Evals) == 0 || r.Evals[len(r.Evals)-1].Step != tr.Step() {
		if err := measure(); err != nil {
			return r, nil, err
		}
	}
	r.Steps, r.TrainS = tr.Step(), round1(spent.Seconds())
	r.ImagesPerS = round1(float64(r.Steps*cfg.Batch) / spent.Seconds())
	r.FinalSWD, r.BestSWD = r.Evals[len(r.Evals)-1].SWD, round1(r.BestSWD)
	r.FinalAugP, r.FinalRT = round3(last.AugP), round3(last.RT)
	if grid, err = tr.Generator().GridImage(); err != nil {
		return r, nil, err
	}
	if r.Final, nearest, samples, err = sampleFigures(tr.Generator(), z, index); err != nil {
		return r, nil, err
	}
	r.BestGrid, r.FinalGrid, r.Pairs = a.Name+"-best.png", a.Name+"-final.png", a.Name+"-pairs.png"
	for _, f := range []struct {
		name string
		img  *image.NRGBA
	}{{r.BestGrid, bestGrid}, {r.FinalGrid, grid}, {r.Pairs, nearestPairs(samples, ds, nearest, 8)}} {
		if err := writePNG(filepath.Join(o.Out, f.name), f.img); err != nil {
			return r, nil, err
		}
	}
	return r, grid, nil
}

// sampleFigures generates from z and measures the samples' spread and how
// many are near-copies of the training images.
func sampleFigures(g *gan.Generator, z []float32, index *gan.CopyIndex) (qualitySamples, gan.NearCopies, [][]float32, error) {
	imgs, err := g.Generate(z)
	if err != nil {
		return qualitySamples{}, gan.NearCopies{}, nil, fmt.Errorf("samples: %w", err)
	}
	nc := index.Measure(imgs)
	return qualitySamples{Diversity: round2(gan.MeanPairwiseDistance(imgs)), NearCopies: round3(nc.Share)}, nc, imgs, nil
}

// loadAvg is the 1-minute load average (Linux; 0 elsewhere).
func loadAvg() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(raw) + " 0")[0], 64)
	return v
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
