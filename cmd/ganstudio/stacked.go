package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/gan/stacked"
)

// Stacked MNIST as PacGAN reproduced VEEGAN's protocol (NOTES-modes.md):
// 26,000 samples, each plane read by an MNIST classifier, modes = distinct
// digit triples of 1,000, KL of the triples' distribution to uniform.
// Published rows: VEEGAN Table 2 and PacGAN Table 3 (DCGAN, ALI, Unrolled,
// VEEGAN; PacDCGAN2–4).
type stackedPublished struct {
	Method string  `json:"method"`
	Modes  float64 `json:"modes"`
	KL     float64 `json:"kl"` // NaN: not published
}

var publishedStacked = []stackedPublished{
	{"DCGAN", 99, 3.40},
	{"Unrolled GAN", 48.7, math.NaN()},
	{"VEEGAN", 150, 2.95},
	{"PacDCGAN2", 1000, 0.06},
	{"PacDCGAN3", 1000, 0.06},
	{"PacDCGAN4", 1000, 0.07},
}

// stackedArm is one way of training on Stacked MNIST.
type stackedArm struct {
	Name string `json:"name"`
	What string `json:"what"`
	// Repair: the collapse policy repairs (rolls back with a remedy);
	// otherwise it only judges, so every check still has a verdict.
	Repair bool `json:"repair"`
	config func(seed uint64) spec.Config
}

// stackedArms are the benchmark's arms. The engine's DCGAN differs from the
// papers' in its layers: the generator upsamples and convolves (3×3)
// instead of transposed 4×4 convolutions, and the discriminator's
// convolutions are 3×3 of stride 2 instead of 4×4; the widths are the
// reference DCGAN's (G 256→32, D 64→256). The studio's default engine
// mirrors images; digits mirrored are not digits, so every arm here trains
// on them as they are.
var stackedArms = []stackedArm{
	{Name: "dcgan", What: "the papers' DCGAN set-up: z 100, Adam 2e-4 β1 0.5, batch 64, no augmentation or average",
		config: papersDCGAN},
	{Name: "dcgan-policy", What: "the papers' DCGAN set-up under the collapse policy", Repair: true,
		config: papersDCGAN},
	{Name: "default", What: "today's default engine (ADA augmentation, generator average), judged but not repaired",
		config: studioDigits},
	{Name: "policy", What: "the default engine under the collapse policy (repair)", Repair: true,
		config: studioDigits},
	{Name: "mistyped", What: "the default engine with mistyped rates (G 2e-3, D 1e-6), judged but not repaired",
		config: mistyped},
	{Name: "mistyped-policy", What: "the same mistyped rates under the collapse policy", Repair: true,
		config: mistyped},
}

func papersDCGAN(seed uint64) spec.Config {
	c := spec.DefaultConfig()
	c.ZDim, c.Seed = 100, seed
	return c
}

func studioDigits(seed uint64) spec.Config {
	c := spec.Studio(stacked.Res)
	c.Mirror, c.Seed = false, seed
	return c
}

func mistyped(seed uint64) spec.Config {
	c := studioDigits(seed)
	c.LRG, c.LRD = 2e-3, 1e-6
	return c
}

// stackedCheck is one health check with its ground truth.
type stackedCheck struct {
	healthCheck
	// Modes are the distinct triples the classifier reads in the check's
	// truth sample; Peak the most of any earlier check on the way to this
	// one (a rollback forgets the checks it undoes).
	Modes int `json:"modes"`
	Peak  int `json:"peak"`
	// Losing is the ground truth: the check has lost a tenth of the modes
	// of its peak, or never reached a quarter of the modes as many
	// training images show (a run collapsed from the start has no peak
	// to lose).
	Losing bool `json:"losing"`
	Judged bool `json:"judged"`
	// The detector's measures, for judging again with other thresholds,
	// and the drop rule's best judged check before this one.
	Health spec.HealthReport `json:"health"`
	Best   gan.Seen          `json:"best"`
}

// stackedRunResult is one run of one arm.
type stackedRunResult struct {
	Arm       string         `json:"arm"`
	Seed      uint64         `json:"seed"`
	Steps     int            `json:"steps"`
	Trained   int            `json:"trained"`
	Rollbacks int            `json:"rollbacks"`
	Final     stacked.Modes  `json:"final"`
	FinalSWD  float64        `json:"final_swd"`
	Checks    []stackedCheck `json:"checks"`
	Seconds   float64        `json:"seconds"`
	// EvalSeconds is the final evaluation's share of Seconds.
	EvalSeconds float64 `json:"eval_seconds"`
	Error       string  `json:"error,omitempty"`
}

// detectorTally counts judged checks against their ground truth, as on the
// mixtures, and how soon the alarm came after the truth's first loss.
type detectorTally struct {
	Hits          int `json:"hits"`
	Misses        int `json:"misses"`
	FalseAlarms   int `json:"false_alarms"`
	CorrectSilent int `json:"correct_silent"`
	// Runs that lost a tenth of their modes, and of them those alarmed
	// (level collapsed) within two checks of the first loss.
	Losing       int `json:"losing_runs"`
	AlarmedInTwo int `json:"alarmed_within_two"`
	// Healthy runs (never losing) with an alarm.
	FalseAlarmRuns int `json:"false_alarm_runs"`
}

func (d *detectorTally) add(r stackedRunResult, th gan.HealthThresholds) {
	firstLoss, firstAlarm, alarmed := -1, -1, false
	for i, c := range r.Checks {
		if !c.Judged {
			continue
		}
		h := c.Health
		th.Judge(&h, c.Best)
		alarm := h.Level == spec.Collapsed
		switch {
		case alarm && c.Losing:
			d.Hits++
		case c.Losing:
			d.Misses++
		case alarm:
			d.FalseAlarms++
		default:
			d.CorrectSilent++
		}
		if c.Losing && firstLoss < 0 {
			firstLoss = i
		}
		if alarm {
			alarmed = true
			if firstLoss >= 0 && firstAlarm < 0 {
				firstAlarm = i
			}
		}
	}
	switch {
	case firstLoss >= 0:
		d.Losing++
		if firstAlarm >= 0 && firstAlarm-firstLoss <= 2 {
			d.AlarmedInTwo++
		}
	case alarmed:
		d.FalseAlarmRuns++
	}
}

// tunedThresholds are the image thresholds as Stacked MNIST's ground truth
// set them (gan.DefaultThresholds' drop rule), judging every run live.
var tunedThresholds = gan.DefaultThresholds

// beforeThresholds are the thresholds before Stacked MNIST's ground truth
// was used to tune them: the same without the drop rule. Each check is
// judged again with them, from its measures.
var beforeThresholds = func() gan.HealthThresholds {
	th := gan.DefaultThresholds
	th.CollapseDrop = 0
	return th
}()

type stackedArmResult struct {
	Arm    stackedArm         `json:"arm"`
	Runs   []stackedRunResult `json:"runs"`
	Modes  stat               `json:"modes"`
	KL     stat               `json:"kl"`
	Before detectorTally      `json:"detector_before"`
	After  detectorTally      `json:"detector_after"`
}

type stackedReport struct {
	Protocol   string               `json:"protocol"`
	BLAS       string               `json:"blas"`
	Threads    int                  `json:"threads"`
	Device     string               `json:"device"`
	Steps      int                  `json:"steps"`
	Every      int                  `json:"check_every"`
	WarmUp     int                  `json:"warm_up"`
	Samples    int                  `json:"samples"`
	TruthN     int                  `json:"truth_samples"`
	RealModes  int                  `json:"truth_real_modes"` // the modes of as many training images
	Classifier float64              `json:"classifier_accuracy"`
	Before     gan.HealthThresholds `json:"thresholds_before"`
	After      gan.HealthThresholds `json:"thresholds_after"`
	Results    []*stackedArmResult  `json:"results"`
	Published  []stackedPublished   `json:"published"`
	Seconds    float64              `json:"seconds"`
}

// MarshalJSON writes the unpublished KL as null.
func (p stackedPublished) MarshalJSON() ([]byte, error) {
	type row struct {
		Method string   `json:"method"`
		Modes  float64  `json:"modes"`
		KL     *float64 `json:"kl"`
	}
	r := row{Method: p.Method, Modes: p.Modes}
	if !math.IsNaN(p.KL) {
		r.KL = &p.KL
	}
	return json.Marshal(r)
}

func stackedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench stacked", flag.ContinueOnError)
	arms := fs.String("arms", "dcgan,default,policy,mistyped,mistyped-policy", "arms: "+stackedArmNames())
	seeds := fs.Int("seeds", 3, "runs per arm (seeds first…first+n−1)")
	first := fs.Uint64("first-seed", 1, "the first seed")
	steps := fs.Int("steps", 1000, "training steps per run (batch 64)")
	every := fs.Int("every", 50, "steps between health checks (the studio's snapshot interval)")
	samples := fs.Int("samples", 26_000, "samples of the final evaluation (the papers' 26,000)")
	truthN := fs.Int("truth", 512, "samples whose modes are each health check's ground truth")
	parallel := fs.Int("parallel", 2, "runs trained at once")
	warmUp := fs.Int("warmup", spec.DefaultPolicy().WarmUp, "steps before the detector judges (the studio's)")
	collapseSteps := fs.Int("collapse-steps", 500, "training steps of the mistyped arms, which collapse by step 200 (0: --steps)")
	quick := fs.Bool("quick", false, "one seed of 300 steps of the dcgan, policy and mistyped-policy arms: under 10 minutes on 2 cores")
	data := fs.String("data", "data", "the studio's data folder: the digit classifier is kept in its cache/ and trained once")
	mnistDir := fs.String("mnist", "", "the folder of the four MNIST .gz files (default: GoMNIST's, found in the Go module cache)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of tables")
	jsonOut := fs.String("json-out", "", "also write the JSON object to this file")
	device := fs.String("device", spec.CPU, deviceUsage("train the runs on this device (the classifier reads on the CPU)"))
	width := fs.Float64("width", 0, "channel multiplier of every arm's networks (0: the reference DCGAN's 1; smaller for quick checks)")
	batch := fs.Int("batch", 0, "images per step of every arm (0: the papers' 64)")
	grids := fs.String("grids", "", "a folder to write each run's final fixed-latent grid to (ARM-seedN.png)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *grids != "" {
		if err := os.MkdirAll(*grids, 0o755); err != nil {
			return err
		}
	}
	if *quick {
		// The flags given beside --quick still count.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"seeds": "1", "steps": "300", "collapse-steps": "300", "arms": "dcgan,policy,mistyped-policy"} {
			if !set[name] {
				fs.Set(name, v)
			}
		}
	}
	switch {
	case *seeds < 1 || *steps < 1 || *every < 1 || *parallel < 1 || *warmUp < 0:
		return fmt.Errorf("--seeds, --steps, --every and --parallel must be at least 1, --warmup at least 0")
	case *samples < 100 || *samples > 1_000_000:
		return fmt.Errorf("--samples must be from 100 to 1,000,000, got %d", *samples)
	case *truthN < 64 || *truthN > 100_000:
		return fmt.Errorf("--truth must be from 64 to 100,000, got %d", *truthN)
	}
	if err := useDevice(*device); err != nil {
		return err
	}
	var chosen []stackedArm
	for _, name := range strings.Split(*arms, ",") {
		i := slices.IndexFunc(stackedArms, func(a stackedArm) bool { return a.Name == strings.TrimSpace(name) })
		if i < 0 {
			return fmt.Errorf("unknown arm %q (have %s)", name, stackedArmNames())
		}
		chosen = append(chosen, stackedArms[i])
	}
	t0 := time.Now()
	m, err := stacked.LoadMNIST(*mnistDir)
	if err != nil {
		return err
	}
	cacheDir := filepath.Join(filepath.Clean(*data), "cache")
	clf, trained, err := stacked.CachedClassifier(cacheDir, m, func(e int, done, loss float64) {
		fmt.Fprintf(os.Stderr, "\rtraining the digit classifier (kept in %s): pass %d of %d, %3.0f%%, loss %.3f", cacheDir, e, stacked.DefaultTrain.Epochs, 100*done, loss)
	})
	if err != nil {
		return err
	}
	defer clf.Close()
	if trained {
		fmt.Fprintln(os.Stderr)
	}
	fmt.Fprintf(os.Stderr, "digit classifier: %.2f%% of MNIST's held-out digits read right\n", 100*clf.Accuracy)
	ds, err := stacked.NewDataset(m.Train, stacked.Images, 1, 0)
	if err != nil {
		return err
	}
	rep := stackedReport{
		Protocol: "Stacked MNIST (VEEGAN/PacGAN): 128,000 training images of three random MNIST digits as R, G, B, padded to 32×32; " +
			"modes = distinct digit triples (of 1,000) the classifier reads in the samples; KL(p_gen ‖ uniform)",
		BLAS: gan.BLASName, Threads: runtime.GOMAXPROCS(0), Device: gan.DeviceName(), Steps: *steps, Every: *every, WarmUp: *warmUp, Samples: *samples, TruthN: *truthN,
		Classifier: clf.Accuracy, Before: beforeThresholds, After: tunedThresholds, Published: publishedStacked,
	}
	real := make([][]float32, *truthN)
	for i := range real {
		real[i] = make([]float32, 3*stacked.Res*stacked.Res)
		ds.Image(i*(ds.Len() / *truthN), real[i])
	}
	realTriples, err := clf.Triples(real)
	if err != nil {
		return err
	}
	rep.RealModes = stacked.Count(realTriples).Modes
	fmt.Fprintf(os.Stderr, "%d training images show %d modes: a check under %d modes has lost its way\n", *truthN, rep.RealModes, rep.RealModes/4)
	type job struct {
		res  *stackedArmResult
		i    int
		seed uint64
	}
	var jobs []job
	for _, a := range chosen {
		ar := &stackedArmResult{Arm: a, Runs: make([]stackedRunResult, *seeds)}
		rep.Results = append(rep.Results, ar)
		for s := range *seeds {
			jobs = append(jobs, job{ar, s, *first + uint64(s)})
		}
	}
	fmt.Fprintf(os.Stderr, "bench stacked: %d runs of %d steps, %d at a time, %s\n", len(jobs), *steps, *parallel, gan.BLASName)
	var (
		mu       sync.Mutex
		firstErr error
		done     int
	)
	inParallel(ctx, len(jobs), *parallel, func(i int) {
		j := jobs[i]
		name := fmt.Sprintf("%s/seed %d", j.res.Arm.Name, j.seed)
		n := *steps
		if strings.HasPrefix(j.res.Arm.Name, "mistyped") && *collapseSteps > 0 {
			n = min(n, *collapseSteps)
		}
		r, err := stackedRun(ctx, ds, clf.Clone(), j.res.Arm, j.seed, stackedPlan{n, *every, *warmUp, *samples, *truthN, rep.RealModes, *grids, *width, *batch}, name)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			// One run's failure keeps the others' results.
			firstErr = cmpOr(firstErr, fmt.Errorf("%s: %w", name, err))
			fmt.Fprintf(os.Stderr, "%s failed: %v\n", name, err)
			r.Error = err.Error()
		}
		j.res.Runs[j.i] = r
		if err != nil {
			return
		}
		done++
		fmt.Fprintf(os.Stderr, "[%d/%d %s] %s: %d modes, KL %.3f, %d rollbacks, %.0f s (evaluation %.0f s)\n", done, len(jobs),
			time.Since(t0).Round(time.Second), name, r.Final.Modes, r.Final.KL, r.Rollbacks, r.Seconds, r.EvalSeconds)
	})

	if err := ctx.Err(); err != nil {
		return err
	}
	for _, ar := range rep.Results {
		var modes, kl []float64
		for _, r := range ar.Runs {
			if r.Error != "" {
				continue
			}
			modes = append(modes, float64(r.Final.Modes))
			kl = append(kl, r.Final.KL)
			ar.Before.add(r, beforeThresholds)
			ar.After.add(r, tunedThresholds)
		}
		ar.Modes, ar.KL = summarise(modes), summarise(kl)
	}
	rep.Seconds = math.Round(time.Since(t0).Seconds())
	asked, err := writeReport(rep, *jsonOut, *asJSON)
	if err != nil {
		return err
	}
	if !asked {
		printStacked(rep)
	}
	return firstErr
}

func stackedArmNames() string {
	var names []string
	for _, a := range stackedArms {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

// Latent seeds of the benchmark's samples: the final evaluation's, and
// the health checks' ground truth (the same latents at every check).
const (
	stackedEvalSeed  = 0x57ac_e7a1
	stackedTruthSeed = 0x57ac_7a17
)

// stackedPlan is how long each run trains and how it is measured.
type stackedPlan struct {
	steps, every, warmUp, samples, truthN int
	realModes                             int     // the modes of truthN training images
	grids                                 string  // a folder for the final grid, or ""
	width                                 float64 // the networks' channel multiplier, if not 0
	batch                                 int     // images per step, if not 0
}

// stackedRun trains one run as the studio's worker would (health check at
// every snapshot, the policy judging or repairing), reads each check's
// ground truth, and evaluates the end as the papers do.
func stackedRun(ctx context.Context, ds *stacked.Dataset, clf *stacked.Classifier, arm stackedArm, seed uint64,
	plan stackedPlan, name string) (stackedRunResult, error) {
	defer clf.Close()
	t0 := time.Now()
	steps, every, truthN := plan.steps, plan.every, plan.truthN
	cfg := arm.config(seed)
	setIf(&cfg.Width, plan.width)
	setIf(&cfg.Batch, plan.batch)
	if err := cfg.Validate(); err != nil {
		return stackedRunResult{}, err
	}
	p := spec.DefaultPolicy()
	p.WarmUp = plan.warmUp
	if !arm.Repair {
		p.Mode = spec.PolicyWarn
	}
	res := stackedRunResult{Arm: arm.Name, Seed: seed, Steps: steps}
	watch := gan.NewWatch(ds, seed, spec.Guard{P: p})
	if watch == nil {
		return res, fmt.Errorf("the health reference could not be measured")
	}
	watch.Ref.Th = tunedThresholds
	tr, err := gan.NewTrainer(cfg, ds)
	if err != nil {
		return res, err
	}
	mr := &memoryRun{res: healthResult{Case: healthCase{Name: name}, Seed: seed, Steps: steps, FirstAlarm: -1},
		ds: ds, checkpoints: map[int][]byte{}, watch: watch, tr: tr, quiet: true}
	truthZ := gan.RandomLatents(truthN, cfg.ZDim, stackedTruthSeed)
	type point struct{ step, modes int }
	var path []point // the checks on the way to now
	mr.onCheck = func(tr *gan.Trainer, sn *gan.Snapshot, c *healthCheck) error {
		imgs, err := tr.Generator().Generate(truthZ)
		if err != nil {
			return err
		}
		t, err := clf.Triples(imgs)
		if err != nil {
			return err
		}
		sc := stackedCheck{healthCheck: *c, Modes: stacked.Count(t).Modes, Judged: sn.Decision.Judged, Health: *sn.Health,
			Best: watch.Best(sn.Step)}
		// The peak counts from the warm-up's end: before it, an untrained
		// generator's blots are read as many triples at random.
		for _, pt := range path {
			if pt.step >= p.WarmUp {
				sc.Peak = max(sc.Peak, pt.modes)
			}
		}
		sc.Losing = sn.Step >= p.WarmUp && (float64(sc.Modes) < 0.9*float64(sc.Peak) || float64(sc.Modes) < 0.25*float64(plan.realModes))
		path = append(path, point{sn.Step, sc.Modes})
		if d := sn.Decision; d.Rollback {
			path = slices.DeleteFunc(path, func(pt point) bool { return pt.step > d.ToStep })
		}
		res.Checks = append(res.Checks, sc)
		if sn.Step%(4*every) == 0 || sn.Decision.Collapse || sc.Losing {
			fmt.Fprintf(os.Stderr, "  %s step %d: %d of %d truth modes (peak %d), %s, diversity %.2f, near-copies %.2f, NDB %.2f\n",
				name, sn.Step, sc.Modes, truthN, sc.Peak, orDash(sn.Health.Level), sn.Health.Diversity, sn.Health.Duplicates, sn.Health.NDB)
		}
		return nil
	}
	loop := gan.NewLoop(tr, gan.Plan{Steps: steps, Fresh: true, SnapshotEvery: every, EvalEvery: steps, Base: cfg, Watch: watch}, mr)
	err = loop.Run(ctx)
	defer func() { loop.Trainer().Close() }()
	if err != nil {
		return res, err
	}
	// The repair's events land on the check that rolled back, after
	// onCheck copied it: mr keeps the checks in the same order.
	for i := range res.Checks {
		res.Checks[i].healthCheck = mr.res.Checks[i]
	}
	res.Trained, res.Rollbacks, res.FinalSWD = mr.res.Trained, mr.res.Rollbacks, mr.res.FinalSWD
	if plan.grids != "" {
		grid, err := loop.Trainer().Generator().GridImage()
		if err != nil {
			return res, err
		}
		if err := writePNG(filepath.Join(plan.grids, fmt.Sprintf("%s-seed%d.png", arm.Name, seed)), grid); err != nil {
			return res, err
		}
	}
	t1 := time.Now()
	if res.Final, err = stackedEval(loop.Trainer().Generator(), clf, plan.samples); err != nil {
		return res, err
	}
	res.EvalSeconds = math.Round(time.Since(t1).Seconds())
	res.Seconds = math.Round(time.Since(t0).Seconds())
	return res, nil
}

// stackedEval reads the triples of n samples, a thousand at a time.
func stackedEval(g *gan.Generator, clf *stacked.Classifier, n int) (stacked.Modes, error) {
	z := gan.RandomLatents(n, g.Config().ZDim, stackedEvalSeed)
	zd := g.Config().ZDim
	var all []int
	for lo := 0; lo < n; lo += 1000 {
		hi := min(lo+1000, n)
		imgs, err := g.Generate(z[lo*zd : hi*zd])
		if err != nil {
			return stacked.Modes{}, err
		}
		t, err := clf.Triples(imgs)
		if err != nil {
			return stacked.Modes{}, err
		}
		all = append(all, t...)
	}
	return stacked.Count(all), nil
}

func printStacked(rep stackedReport) {
	fmt.Printf("Stacked MNIST: %d steps of batch 64, %d samples per evaluation, classifier %.2f%% on held-out digits, %.0f s\n\n",
		rep.Steps, rep.Samples, 100*rep.Classifier, rep.Seconds)
	fmt.Printf("%-16s %-22s %-26s %s\n", "arm", "modes (of 1000)", "KL to uniform", "per seed (modes/KL)")
	for _, ar := range rep.Results {
		var per []string
		for _, r := range ar.Runs {
			per = append(per, fmt.Sprintf("%d/%.3f", r.Final.Modes, r.Final.KL))
		}
		fmt.Printf("%-16s %6.1f ± %-13.1f %6.3f ± %-17.3f %s\n", ar.Arm.Name, ar.Modes.Mean, ar.Modes.Std, ar.KL.Mean, ar.KL.Std, strings.Join(per, "  "))
	}
	fmt.Println("\npublished (PacGAN Table 3, VEEGAN Table 2):")
	for _, p := range rep.Published {
		kl := "—"
		if !math.IsNaN(p.KL) {
			kl = fmt.Sprintf("%.2f", p.KL)
		}
		fmt.Printf("  %-14s %7.1f modes, KL %s\n", p.Method, p.Modes, kl)
	}
	fmt.Println("\ndetector on judged checks (truth: the check's sample has lost a tenth of its peak modes, or has under a quarter of the data's; alarm: level collapsed):")
	for _, ar := range rep.Results {
		for _, d := range []struct {
			name string
			t    detectorTally
		}{{"before", ar.Before}, {"after", ar.After}} {
			fmt.Printf("  %-16s %-6s hits %d, misses %d, false alarms %d, correct silences %d; runs losing modes %d (alarm within 2 checks: %d), healthy runs alarmed %d\n",
				ar.Arm.Name, d.name, d.t.Hits, d.t.Misses, d.t.FalseAlarms, d.t.CorrectSilent, d.t.Losing, d.t.AlarmedInTwo, d.t.FalseAlarmRuns)
		}
	}
}
