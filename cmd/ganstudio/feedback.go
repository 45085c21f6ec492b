package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// The colour rule of 'ganstudio bench feedback' (rules.go has the others)
// likes images whose mean hue is warm: the hue of their coloured pixels,
// averaged round the colour wheel, lies within --hue-max degrees of red.
// On the built-in shapes (eight colours) the default 30° likes the red and
// orange ones, a quarter of the set. The emoji set is a poor field for it:
// three in four faces are yellow within 3° of each other (43–46°), so the
// rule either likes almost nothing (35°: the few red faces and hearts) or
// flips on noise.

// hueFromRed is the circular mean hue of an image's coloured pixels (each
// weighted by its saturation) as degrees away from red: 0 red, 60 yellow,
// 180 cyan. An image with no colour at all is 180.
func hueFromRed(img []float32, res int) float64 {
	plane := res * res
	var sx, sy float64
	for i := 0; i < plane; i++ {
		r, g, b := (float64(img[i])+1)/2, (float64(img[plane+i])+1)/2, (float64(img[2*plane+i])+1)/2
		mx, mn := max(r, g, b), min(r, g, b)
		if mx < 0.15 || mx-mn < 0.1 {
			continue // dark or grey: no hue worth the name
		}
		sat := (mx - mn) / mx
		var h float64
		switch mx {
		case r:
			h = math.Mod((g-b)/(mx-mn), 6)
		case g:
			h = (b-r)/(mx-mn) + 2
		default:
			h = (r-g)/(mx-mn) + 4
		}
		a := h * math.Pi / 3
		sx += sat * math.Cos(a)
		sy += sat * math.Sin(a)
	}
	if sx == 0 && sy == 0 {
		return 180
	}
	return math.Abs(math.Atan2(sy, sx)) * 180 / math.Pi
}

// rater rates images by one rule.
type rater struct {
	rule
	res       int
	realShare float64     // of the training images
	likedReal [][]float32 // evalN training images it likes, drawn with replacement
	liked     []int       // the training images it likes
	others    []int       // and the rest
	ds        *datasets.Dataset
}

// shiftSWD is the SWD to the training images (as Trainer.Quality measures
// it) of training images themselves, drawn so that the rule likes share
// of them: what a perfect generator steered that far would score. Moving
// toward what a rule likes moves away from the whole set; this is the
// part of a steered arm's SWD that no method can avoid.
func (r rater) shiftSWD(share float64) (float64, error) {
	rng := rand.New(rand.NewPCG(11, 11))
	imgs := make([][]float32, gan.EvalImages)
	for k := range imgs {
		set := r.others
		if rng.Float64() < share || len(r.others) == 0 {
			set = r.liked
		}
		imgs[k] = r.ds.Float(set[rng.IntN(len(set))])
	}
	q, err := gan.SWD(imgs, gan.RealSample(r.ds, gan.EvalImages, 1), r.res, gan.SWDOptions{Seed: 3})
	return round1(q.Mean), err
}

func newRater(ds *datasets.Dataset, rl rule) (rater, error) {
	r := rater{rule: rl, res: ds.Res(), ds: ds}
	var liked []int
	for i := 0; i < ds.Len(); i++ {
		if r.likes(ds.Float(i), r.res) {
			liked = append(liked, i)
		} else {
			r.others = append(r.others, i)
		}
	}
	r.liked = liked
	if len(liked) == 0 {
		return r, fmt.Errorf("rule %s likes none of the %d training images", rl.name, ds.Len())
	}
	r.realShare = float64(len(liked)) / float64(ds.Len())
	rng := rand.New(rand.NewPCG(5, 5))
	for range evalN {
		r.likedReal = append(r.likedReal, ds.Float(liked[rng.IntN(len(liked))]))
	}
	return r, nil
}

func (r rater) share(imgs [][]float32) float64 {
	n := 0
	for _, img := range imgs {
		if r.likes(img, r.res) {
			n++
		}
	}
	return float64(n) / float64(len(imgs))
}

// feedbackMeasure is an arm's figures on the evaluation latents.
type feedbackMeasure struct {
	Shares    map[string]float64 `json:"shares"`    // by rule: the share of samples it likes
	Diversity float64            `json:"diversity"` // mean pairwise distance ÷ the training images'
	SWD       float64            `json:"swd"`       // sliced Wasserstein distance to the training images
	SWDLiked  float64            `json:"swd_liked"` // the same to the training images the arm's rule likes (0: the arm has no rule)
	// SWDLikedBy is, by rule, the SWD to the training images it likes
	// (the arm without feedback has every rule's; an arm with, its own).
	SWDLikedBy map[string]float64 `json:"swd_liked_by"`
	// Shift is, by rule, shiftSWD at the share it likes: the SWD of
	// training images steered as far.
	Shift map[string]float64 `json:"shift_swd"`
	Level string             `json:"health"` // the collapse monitor's verdict
}

// feedbackCell is one arm with feedback: a rule rating with a budget at a
// weight, by one method set.
type feedbackCell struct {
	Rule     string  `json:"rule"`
	Budget   int     `json:"budget"`
	Weight   float64 `json:"weight"`
	Methods  string  `json:"methods"`
	Ratings  int     `json:"ratings"`  // given: the budget, unless the arm ran out of steps
	Liked    int     `json:"liked"`    // of them, likes
	Sessions int     `json:"sessions"` // of them, from rating sessions (the rest from snapshots)
	Accuracy float64 `json:"model_accuracy"`
	// LikedData is how many training images (mirrored ones apart) the
	// last rating model liked, for the data method.
	LikedData int             `json:"liked_data"`
	After     feedbackMeasure `json:"after"`
}

type feedbackSeed struct {
	Seed   uint64          `json:"seed"`
	Before feedbackMeasure `json:"before"` // at the shared checkpoint
	Off    feedbackMeasure `json:"off"`    // the arm without feedback
	Cells  []feedbackCell  `json:"cells"`
}

type feedbackRule struct {
	Name      string  `json:"name"`
	Family    string  `json:"family"`
	Describe  string  `json:"rule"`
	RealShare float64 `json:"real_share"` // of the training images
}

type feedbackReport struct {
	Dataset   string         `json:"dataset"`
	Rules     []feedbackRule `json:"rules"`
	Base      int            `json:"base_steps"`
	Steps     int            `json:"steps"`
	SnapEvery int            `json:"snapshot_every"`
	Snapshot  int            `json:"snapshot_samples"`
	Gains     gan.Gains      `json:"default_gains"`
	Seeds     []feedbackSeed `json:"seeds"`
	Summary   []feedbackSum  `json:"summary"` // one per cell, over all seeds
}

// feedbackSum is a cell's goal figures over all seeds: ratios of sums of
// the arm's figure to the arm without feedback's.
type feedbackSum struct {
	Rule      string  `json:"rule"`
	Budget    int     `json:"budget"`
	Weight    float64 `json:"weight"`
	Methods   string  `json:"methods"`
	Share     float64 `json:"share"`
	ShareOff  float64 `json:"share_off"`
	Ratio     float64 `json:"share_ratio"`     // goal ≥ 2
	Diversity float64 `json:"diversity_ratio"` // goal ≥ 0.8
	SWD       float64 `json:"swd_ratio"`       // goal ≤ 1.1
	// ShiftSWD is the same ratio for training images steered as far
	// (shiftSWD at the arm's share ÷ at the share without feedback): the
	// part of the SWD ratio that comes with the shift itself.
	ShiftSWD float64 `json:"shift_swd_ratio"`
	SWDLiked float64 `json:"swd_liked"` // the arm's SWD to the training images its rule likes
	Met      bool    `json:"goal_met"`
}

// cellSpec is what one feedback arm runs.
type cellSpec struct {
	rater  rater
	budget int
	weight float64
	arm    armSpec
}

// feedbackCmd measures whether ratings steer training as a designer gives
// them: from one checkpoint per seed, the same steps without feedback and
// with, the synthetic rater rating only what the studio shows (every
// snapshot's samples, and a rating session at each snapshot) up to a
// budget. Every rule × budget × weight × method set is an arm of its own.
func feedbackCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench feedback", flag.ContinueOnError)
	base := fs.Int("base", 300, "steps trained before the arms split (the shared checkpoint)")
	steps := fs.Int("steps", 300, "steps each arm trains after the checkpoint")
	snapEvery := fs.Int("snapshot-every", 50, "steps between snapshots; the rater rates at each, up to steps less one snapshot")
	snapN := fs.Int("snapshot-samples", 8, "samples a snapshot shows (the studio's)")
	budgets := fs.String("budgets", "50 100 200", "ratings per arm, space-separated: each an arm of its own")
	weights := fs.String("weights", "0.5 1", "feedback weights, 0–1, space-separated: each an arm of its own")
	ruleList := fs.String("rules", "hue dark left round", "the raters' rules (hue, dark, left, round): each an arm of its own")
	seeds := fs.Int("seeds", 1, "seeds")
	first := fs.Uint64("first-seed", 1, "the first seed")
	dataset := fs.String("dataset", "shapes", "built-in dataset: shapes or emoji")
	hueMax := fs.Float64("hue-max", 30, "the hue rule likes images whose mean hue is within this many degrees of red")
	methods := fs.String("methods", gan.DefaultMethods.String(), "how feedback reaches training: replay, negatives, model, comma-separated; "+
		"several sets separated by spaces are arms of their own, from the same checkpoint; "+
		"a set may end in :S,N,M, :S,N,M,D or :S,N,M,D,C to set the liked share, the disliked weight, the model weight and the data share at weight 1, "+
		"and the liked cap (liked slots at most this share of the distinct liked images)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	grids := fs.String("grids", "", "a folder to write each arm's first 64 evaluation samples to, as an 8×8 grid")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *grids != "" {
		if err := os.MkdirAll(*grids, 0o755); err != nil {
			return err
		}
	}
	var sets []armSpec
	for _, w := range strings.Fields(*methods) {
		a, err := parseArm(w)
		if err != nil {
			return err
		}
		sets = append(sets, a)
	}
	if len(sets) == 0 {
		return fmt.Errorf("--methods names no method")
	}
	if *base < 0 || *steps < 1 || *seeds < 1 || *snapEvery < 1 || *snapN < 0 {
		return fmt.Errorf("--steps, --seeds and --snapshot-every must be at least 1, --base and --snapshot-samples at least 0")
	}
	if !(*hueMax > 0 && *hueMax < 180) {
		return fmt.Errorf("--hue-max must be between 0 and 180 degrees")
	}
	bs, err := intList(*budgets, "--budgets", 1)
	if err != nil {
		return err
	}
	wsList, err := floatList(*weights, "--weights")
	if err != nil {
		return err
	}
	rls, err := pickRules(*ruleList, *hueMax)
	if err != nil {
		return err
	}
	ds, err := datasets.Builtin(*dataset, 32)
	if err != nil {
		return err
	}
	rep := feedbackReport{Dataset: "builtin:" + *dataset, Base: *base, Steps: *steps, SnapEvery: *snapEvery, Snapshot: *snapN, Gains: gan.DefaultGains}
	var raters []rater
	for _, rl := range rls {
		rt, err := newRater(ds, rl)
		if err != nil {
			return err
		}
		raters = append(raters, rt)
		rep.Rules = append(rep.Rules, feedbackRule{Name: rl.name, Family: rl.family, Describe: rl.describe, RealShare: round2(rt.realShare)})
		fmt.Fprintf(os.Stderr, "rule %s (%s): likes %s, %.0f%% of the training images of %s\n", rl.name, rl.family, rl.describe, 100*rt.realShare, rep.Dataset)
	}
	var cells []cellSpec
	for _, rt := range raters {
		for _, b := range bs {
			for _, w := range wsList {
				for _, a := range sets {
					cells = append(cells, cellSpec{rater: rt, budget: b, weight: w, arm: a})
				}
			}
		}
	}
	p := studioProtocol{steps: *steps, every: *snapEvery, snapN: *snapN, grids: *grids}
	for seed := *first; seed < *first+uint64(*seeds); seed++ {
		r, err := feedbackSeedRun(ctx, ds, raters, cells, seed, *base, p)
		if err != nil {
			return fmt.Errorf("seed %d: %w", seed, err)
		}
		rep.Seeds = append(rep.Seeds, r)
	}
	rep.Summary = summariseFeedback(rep.Seeds)
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	printFeedback(&rep)
	return nil
}

func intList(s, flag string, least int) ([]int, error) {
	var out []int
	for _, w := range strings.Fields(s) {
		var n int
		if _, err := fmt.Sscan(w, &n); err != nil || n < least {
			return nil, fmt.Errorf("%s: %q is not a whole number of at least %d", flag, w, least)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names none", flag)
	}
	return out, nil
}

func floatList(s, flag string) ([]float64, error) {
	var out []float64
	for _, w := range strings.Fields(s) {
		var x float64
		if _, err := fmt.Sscan(w, &x); err != nil || !(x > 0 && x <= 1) {
			return nil, fmt.Errorf("%s: %q is not a weight above 0 and at most 1", flag, w)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names none", flag)
	}
	return out, nil
}

// armSpec is one feedback arm: methods, and gains unless the default's.
type armSpec struct {
	m     gan.Method
	gains *gan.Gains
}

func (a armSpec) String() string {
	if a.gains == nil {
		return a.m.String()
	}
	s := fmt.Sprintf("%v:%g,%g,%g,%g", a.m, a.gains.LikedShare, a.gains.NegWeight, a.gains.ModelWeight, a.gains.DataShare)
	if a.gains.LikedCap > 0 {
		s += fmt.Sprintf(",%g", a.gains.LikedCap)
	}
	return s
}

// parseArm reads "replay,negatives", "all:0.5,1,2", "all:0.5,1,2,1" or
// "all:0.5,1,2,1,0.25" (a data share or liked cap left out is the
// default's).
func parseArm(s string) (armSpec, error) {
	ms, gs, hasGains := strings.Cut(s, ":")
	m, err := gan.ParseMethods(ms)
	if err != nil || !hasGains {
		return armSpec{m: m}, err
	}
	g := gan.DefaultGains
	var figs []float64
	for _, w := range strings.Split(gs, ",") {
		var x float64
		if _, err := fmt.Sscan(w, &x); err != nil || x < 0 {
			figs = nil
			break
		}
		figs = append(figs, x)
	}
	if len(figs) < 3 || len(figs) > 5 || (len(figs) == 5 && figs[4] > 1) {
		return armSpec{}, fmt.Errorf("arm %q: gains are three to five figures of at least 0, like all:0.25,0.5,0.5, "+
			"all:0.25,0.5,0.5,1 or all:0.25,0.5,0.5,1,0.25 (the last, the liked cap, at most 1)", s)
	}
	g.LikedShare, g.NegWeight, g.ModelWeight = figs[0], figs[1], figs[2]
	if len(figs) >= 4 {
		g.DataShare = figs[3]
	}
	if len(figs) == 5 {
		g.LikedCap = figs[4]
	}
	return armSpec{m: m, gains: &g}, nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// evalLatents are the figures' latents, the same for every arm and step.
const evalLatentSeed, evalN = 0xfeed, 256

// measureFeedback measures tr on the evaluation latents; own is the arm's
// rule (nil: none), whose liked training images SWDLiked is taken to.
func measureFeedback(tr *gan.Trainer, raters []rater, own *rater, ref gan.Reference, grid string) (feedbackMeasure, error) {
	imgs, err := tr.Generator().Generate(gan.RandomLatents(evalN, tr.Config().ZDim, evalLatentSeed))
	if err != nil {
		return feedbackMeasure{}, err
	}
	if grid != "" {
		if err := writePNG(grid, gan.Grid(imgs[:64], tr.Config().Res, 8)); err != nil {
			return feedbackMeasure{}, err
		}
	}
	h := ref.Assess(imgs)
	q, err := tr.Quality()
	if err != nil {
		return feedbackMeasure{}, err
	}
	m := feedbackMeasure{Shares: map[string]float64{}, Shift: map[string]float64{}, Diversity: round2(h.Diversity), SWD: round1(q.Mean), Level: h.Level}
	for _, rt := range raters {
		m.Shares[rt.name] = rt.share(imgs)
		if own == nil || own.name == rt.name {
			if m.Shift[rt.name], err = rt.shiftSWD(m.Shares[rt.name]); err != nil {
				return m, err
			}
		}
	}
	m.SWDLikedBy = map[string]float64{}
	for _, rt := range raters {
		if own != nil && own.name != rt.name {
			continue
		}
		ql, err := gan.SWD(imgs, rt.likedReal, tr.Config().Res, gan.SWDOptions{Seed: 3})
		if err != nil {
			return m, err
		}
		m.SWDLikedBy[rt.name] = round1(ql.Mean)
	}
	if own != nil {
		m.SWDLiked = m.SWDLikedBy[own.name]
	}
	return m, nil
}

func feedbackSeedRun(ctx context.Context, ds *datasets.Dataset, raters []rater, cells []cellSpec, seed uint64, base int, p studioProtocol) (feedbackSeed, error) {
	out := feedbackSeed{Seed: seed}
	cfg := spec.Studio(32) // the new-run form's engine
	cfg.Seed = seed
	tr, err := gan.NewTrainer(cfg, ds)
	if err != nil {
		return out, err
	}
	for tr.Step() < base {
		if _, err := tr.TrainStep(ctx); err != nil {
			tr.Close()
			return out, err
		}
		if tr.Step()%50 == 0 {
			fmt.Fprintf(os.Stderr, "seed %d: base step %d/%d\n", seed, tr.Step(), base)
		}
	}
	var ck bytes.Buffer
	err = tr.WriteCheckpoint(&ck)
	tr.Close()
	if err != nil {
		return out, err
	}
	ref := gan.HealthReference(ds, seed)
	for i := -1; i < len(cells); i++ {
		tr, err := gan.ReadCheckpoint(bytes.NewReader(ck.Bytes()), ds)
		if err != nil {
			return out, err
		}
		if i < 0 {
			if out.Before, err = measureFeedback(tr, raters, nil, ref, p.gridPath(seed, "before")); err == nil {
				if err = p.train(ctx, tr, seed, cellSpec{}, nil); err == nil {
					out.Off, err = measureFeedback(tr, raters, nil, ref, p.gridPath(seed, "none"))
				}
			}
			tr.Close()
			if err != nil {
				return out, err
			}
			fmt.Fprintf(os.Stderr, "seed %d, no feedback: shares %v, diversity %.2f, SWD %.1f, %s\n", seed, fmtShares(out.Off.Shares), out.Off.Diversity, out.Off.SWD, out.Off.Level)
			continue
		}
		c := cells[i]
		cell := feedbackCell{Rule: c.rater.name, Budget: c.budget, Weight: c.weight, Methods: c.arm.String()}
		err = p.train(ctx, tr, seed, c, &cell)
		if err == nil {
			cell.After, err = measureFeedback(tr, raters, &c.rater, ref, p.gridPath(seed, fmt.Sprintf("%s-%d-%g-%s", c.rater.name, c.budget, c.weight, cell.Methods)))
		}
		tr.Close()
		if err != nil {
			return out, err
		}
		out.Cells = append(out.Cells, cell)
		fmt.Fprintf(os.Stderr, "seed %d, %s %d ratings (%d liked, %d from sessions) at %g, %s: share %.2f (none %.2f), diversity %.2f (%.2f), SWD %.1f (%.1f), %s\n",
			seed, cell.Rule, cell.Ratings, cell.Liked, cell.Sessions, cell.Weight, cell.Methods, cell.After.Shares[cell.Rule], out.Off.Shares[cell.Rule],
			cell.After.Diversity, out.Off.Diversity, cell.After.SWD, out.Off.SWD, cell.After.Level)
	}
	return out, nil
}

func fmtShares(m map[string]float64) string {
	var parts []string
	for _, rt := range rules(30) {
		if v, ok := m[rt.name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", rt.name, v))
		}
	}
	return strings.Join(parts, ", ")
}

// studioProtocol rates as a designer in the studio can: at every snapshot
// (the checkpoint's step, then every `every` steps while at least one
// snapshot's steps are left for the ratings to act), the snapshot's
// samples, then a rating session of fresh samples chosen by
// gan.PickForRating, as many as spread the budget evenly over the
// snapshots. Training gets the ratings at once, as the worker does at its
// next read (within jobs.FeedbackEvery steps).
type studioProtocol struct {
	steps, every, snapN int
	grids               string // a folder for the arms' grids, or ""
}

// gridPath is where an arm's grid goes ("" none).
func (p studioProtocol) gridPath(seed uint64, name string) string {
	if p.grids == "" {
		return ""
	}
	name = strings.NewReplacer(",", "+", ":", "-").Replace(name)
	return filepath.Join(p.grids, fmt.Sprintf("seed%d-%s.png", seed, name))
}

func (p studioProtocol) rounds() int { return max(1, (p.steps-1)/p.every) }

// train trains tr p.steps steps; with a cell, the rater rates as above and
// the ratings steer training.
func (p studioProtocol) train(ctx context.Context, tr *gan.Trainer, seed uint64, c cellSpec, cell *feedbackCell) error {
	start := tr.Step()
	rounds := p.rounds()
	session := 0
	if cell != nil {
		session = max(0, (c.budget-p.snapN*rounds+rounds-1)/rounds)
	}
	var liked, disliked [][]float32
	var model *gan.RatingModel
	zd := tr.Config().ZDim
	rate := func(imgs [][]float32, fromSession bool) {
		for _, img := range imgs {
			if cell.Ratings == c.budget {
				return
			}
			cell.Ratings++
			if fromSession {
				cell.Sessions++
			}
			if c.rater.likes(img, c.rater.res) {
				liked = append(liked, img)
			} else {
				disliked = append(disliked, img)
			}
		}
	}
	for {
		s := tr.Step() - start
		if cell != nil && s%p.every == 0 && s/p.every < rounds && cell.Ratings < c.budget {
			// The same latents in every arm: the arms differ only in what
			// their generators make of them.
			key := seed<<20 ^ uint64(s)
			snap, err := tr.Generator().Generate(gan.RandomLatents(p.snapN, zd, key^0x5a4))
			if err != nil {
				return err
			}
			rate(snap, false)
			if n := min(session, c.budget-cell.Ratings); n > 0 {
				pool, err := tr.Generator().Generate(gan.RandomLatents(gan.SessionPool*n, zd, key^0x5e5))
				if err != nil {
					return err
				}
				var picked [][]float32
				for _, i := range gan.PickForRating(model, pool, n, gan.SessionRandomShare, key) {
					picked = append(picked, pool[i])
				}
				rate(picked, true)
			}
			if model, err = gan.FitRatingModel(liked, disliked, tr.Config().Res); err != nil && err != gan.ErrFewRatings {
				return err
			}
			if model != nil {
				cell.Accuracy = round2(model.Accuracy)
			}
			if err := tr.SetFeedback(&gan.Feedback{Liked: liked, Disliked: disliked, Weight: c.weight, Methods: c.arm.m, Model: model, Gains: c.arm.gains}); err != nil {
				return err
			}
			cell.Liked, cell.LikedData = len(liked), tr.LikedData()
		}
		if s >= p.steps {
			return nil
		}
		if _, err := tr.TrainStep(ctx); err != nil {
			return err
		}
	}
}

func summariseFeedback(seeds []feedbackSeed) []feedbackSum {
	if len(seeds) == 0 {
		return nil
	}
	var out []feedbackSum
	for i, c := range seeds[0].Cells {
		sum := feedbackSum{Rule: c.Rule, Budget: c.Budget, Weight: c.Weight, Methods: c.Methods}
		var div, divOff, swd, swdOff, sh, shOff, swdl float64
		for _, s := range seeds {
			a := s.Cells[i]
			sum.Share += a.After.Shares[c.Rule] / float64(len(seeds))
			sum.ShareOff += s.Off.Shares[c.Rule] / float64(len(seeds))
			div, divOff = div+a.After.Diversity, divOff+s.Off.Diversity
			swd, swdOff = swd+a.After.SWD, swdOff+s.Off.SWD
			sh, shOff = sh+a.After.Shift[c.Rule], shOff+s.Off.Shift[c.Rule]
			swdl += a.After.SWDLiked / float64(len(seeds))
		}
		sum.Ratio = round2(sum.Share / math.Max(sum.ShareOff, 1.0/evalN))
		sum.Diversity, sum.SWD, sum.ShiftSWD, sum.SWDLiked = round2(div/divOff), round2(swd/swdOff), round2(sh/shOff), round1(swdl)
		sum.Share, sum.ShareOff = round2(sum.Share), round2(sum.ShareOff)
		sum.Met = sum.Ratio >= 2 && sum.Diversity >= 0.8 && sum.SWD <= 1.1
		out = append(out, sum)
	}
	return out
}

func printFeedback(r *feedbackReport) {
	for _, rl := range r.Rules {
		fmt.Printf("rule %-8s (%s): likes %s; %.0f%% of the training images of %s\n", rl.Name, rl.Family, rl.Describe, 100*rl.RealShare, r.Dataset)
	}
	fmt.Printf("%d base steps, then %d steps per arm; ratings at every snapshot (every %d steps): its %d samples, then a rating session; gains (liked share, disliked weight, model weight, data share) %g, %g, %g, %g unless the arm says\n\n",
		r.Base, r.Steps, r.SnapEvery, r.Snapshot, r.Gains.LikedShare, r.Gains.NegWeight, r.Gains.ModelWeight, r.Gains.DataShare)
	fmt.Printf("%-8s %7s %6s %-30s %6s %6s %6s %9s %6s %6s %9s %5s\n", "rule", "ratings", "weight", "feedback", "share", "none", "×", "diversity", "SWD", "shift", "SWD liked", "goal")
	for _, x := range r.Summary {
		met := "miss"
		if x.Met {
			met = "met"
		}
		fmt.Printf("%-8s %7d %6g %-30s %6.2f %6.2f %6.2f %9.2f %6.2f %6.2f %9.1f %5s\n", x.Rule, x.Budget, x.Weight, x.Methods, x.Share, x.ShareOff, x.Ratio, x.Diversity, x.SWD, x.ShiftSWD, x.SWDLiked, met)
	}
	fmt.Println("\n×: share ÷ the share without feedback (goal ≥ 2); diversity and SWD: ÷ the arm without feedback's (goals ≥ 0.8, ≤ 1.1);")
	fmt.Println("shift: the SWD ratio of training images drawn with the same shares (what steering that far costs a perfect generator); SWD liked: to the training images the rule likes")
	for _, s := range r.Seeds {
		fmt.Printf("seed %d: before %s; without feedback %s, diversity %.2f, SWD %.1f, %s\n", s.Seed, fmtShares(s.Before.Shares), fmtShares(s.Off.Shares), s.Off.Diversity, s.Off.SWD, s.Off.Level)
	}
}
