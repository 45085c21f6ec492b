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
	"strings"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// The synthetic rater of 'ganstudio bench feedback' likes images whose
// mean hue is warm: the hue of their coloured pixels, averaged round the
// colour wheel, lies within --hue-max degrees of red. On the built-in
// shapes (eight colours) the default 30° likes the red and orange ones, a
// quarter of the set. The emoji set is a poor field for it: three in four
// faces are yellow within 3° of each other (43–46°), so the rule either
// likes almost nothing (35°: the few red faces and hearts) or flips on
// noise.

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

// rater rates images by a rule fixed from the training data.
type rater struct {
	res       int
	threshold float64     // hue from red at or below which an image is liked
	likedReal [][]float32 // evalN training images it likes, drawn with replacement
}

func newRater(ds *datasets.Dataset, hueMax float64) (rater, error) {
	r := rater{res: ds.Res(), threshold: hueMax}
	var liked []int
	for i := 0; i < ds.Len(); i++ {
		if r.likes(ds.Float(i)) {
			liked = append(liked, i)
		}
	}
	if len(liked) == 0 {
		return r, fmt.Errorf("the rule likes none of the %d training images", ds.Len())
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for range evalN {
		r.likedReal = append(r.likedReal, ds.Float(liked[rng.IntN(len(liked))]))
	}
	return r, nil
}

func (r rater) likes(img []float32) bool { return hueFromRed(img, r.res) <= r.threshold }

func (r rater) share(imgs [][]float32) float64 {
	n := 0
	for _, img := range imgs {
		if r.likes(img) {
			n++
		}
	}
	return float64(n) / float64(len(imgs))
}

// feedbackMeasure is one arm's figures on the evaluation latents.
type feedbackMeasure struct {
	Share      float64 `json:"share"`       // samples the rater likes
	Diversity  float64 `json:"diversity"`   // mean pairwise distance ÷ the training images'
	SWD        float64 `json:"swd"`         // sliced Wasserstein distance to the training images
	SWDLiked   float64 `json:"swd_liked"`   // the same to the training images the rater likes
	ModelShare float64 `json:"model_share"` // samples the rating model would like (-1: no model)
	BiasShare  float64 `json:"bias_share"`  // samples from latents biased toward liked ones that the rater likes
	BiasDiv    float64 `json:"bias_diversity"`
	Level      string  `json:"health"` // the collapse monitor's verdict
}

type feedbackArm struct {
	Methods string          `json:"methods"` // "none": the arm without feedback
	Ratings int             `json:"ratings"`
	Liked   int             `json:"liked"`
	After   feedbackMeasure `json:"after"`
}

type feedbackSeed struct {
	Seed   uint64          `json:"seed"`
	Before feedbackMeasure `json:"before"`
	Off    feedbackArm     `json:"off"`
	On     []feedbackArm   `json:"on"` // one per method set
}

// arms are the seed's arms, the one without feedback first.
func (s feedbackSeed) arms() []feedbackArm { return append([]feedbackArm{s.Off}, s.On...) }

type feedbackReport struct {
	Dataset   string         `json:"dataset"`
	Threshold float64        `json:"rule_hue_from_red_max"`
	RealShare float64        `json:"real_share"`
	Base      int            `json:"base_steps"`
	Steps     int            `json:"steps"`
	Ratings   int            `json:"ratings"`
	Weight    float64        `json:"weight"`
	Gains     gan.Gains      `json:"default_gains"`
	Seeds     []feedbackSeed `json:"seeds"`
	// The goal's two figures per method set, over all seeds: share after
	// with feedback ÷ without (goal ≥ 2), diversity with ÷ without (goal
	// ≥ 0.8).
	Ratios []feedbackRatio `json:"ratios"`
}

type feedbackRatio struct {
	Methods   string  `json:"methods"`
	Share     float64 `json:"share_ratio"`
	Diversity float64 `json:"diversity_ratio"`
}

// feedbackCmd measures whether ratings steer training: from one
// checkpoint per seed, the same steps with and without feedback, the
// synthetic rater rating the same number of fresh samples in both arms.
func feedbackCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench feedback", flag.ContinueOnError)
	base := fs.Int("base", 300, "steps trained before the arms split (the shared checkpoint)")
	steps := fs.Int("steps", 300, "steps each arm trains after the checkpoint")
	ratings := fs.Int("ratings", 200, "ratings the rater gives in each arm")
	rounds := fs.Int("rounds", 5, "rating rounds (the first at the checkpoint, then every steps/(rounds+1))")
	seeds := fs.Int("seeds", 3, "seeds")
	first := fs.Uint64("first-seed", 1, "the first seed")
	weight := fs.Float64("weight", 1, "feedback weight, 0–1 (the run's setting)")
	dataset := fs.String("dataset", "shapes", "built-in dataset: shapes or emoji")
	hueMax := fs.Float64("hue-max", 30, "the rater likes images whose mean hue is within this many degrees of red")
	methods := fs.String("methods", gan.DefaultMethods.String(), "how feedback reaches training: replay, negatives, model, comma-separated; "+
		"several sets separated by spaces are arms of their own, from the same checkpoint; "+
		"a set may end in :S,N,M to set the liked share, the disliked weight and the model weight at weight 1")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return errUsage
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
	if *base < 0 || *steps < 1 || *ratings < 1 || *rounds < 1 || *seeds < 1 {
		return fmt.Errorf("--steps, --ratings, --rounds and --seeds must be at least 1, --base at least 0")
	}
	if !(*hueMax > 0 && *hueMax < 180) {
		return fmt.Errorf("--hue-max must be between 0 and 180 degrees")
	}
	ds, err := datasets.Builtin(*dataset, 32)
	if err != nil {
		return err
	}
	rt, err := newRater(ds, *hueMax)
	if err != nil {
		return err
	}
	rep := feedbackReport{Dataset: "builtin:" + *dataset, Threshold: round1(rt.threshold), Base: *base, Steps: *steps,
		Ratings: *ratings, Weight: *weight, Gains: gan.DefaultGains}
	var real [][]float32
	for i := 0; i < ds.Len(); i++ {
		real = append(real, ds.Float(i))
	}
	rep.RealShare = rt.share(real)
	fmt.Fprintf(os.Stderr, "rule: mean hue within %.0f° of red (%.0f%% of the training images of %s)\n", rt.threshold, 100*rep.RealShare, rep.Dataset)
	shareOn, divOn := make([]float64, len(sets)), make([]float64, len(sets))
	var shareOff, divOff float64
	for seed := *first; seed < *first+uint64(*seeds); seed++ {
		r, err := feedbackSeedRun(ctx, ds, rt, seed, *base, *steps, *ratings, *rounds, *weight, sets)
		if err != nil {
			return fmt.Errorf("seed %d: %w", seed, err)
		}
		rep.Seeds = append(rep.Seeds, r)
		fmt.Fprintf(os.Stderr, "seed %d: share %.2f before;", seed, r.Before.Share)
		for _, a := range r.arms() {
			fmt.Fprintf(os.Stderr, " %s %.2f (diversity %.2f)", a.Methods, a.After.Share, a.After.Diversity)
		}
		fmt.Fprintln(os.Stderr)
		shareOff += r.Off.After.Share
		divOff += r.Off.After.Diversity
		for i, a := range r.On {
			shareOn[i] += a.After.Share
			divOn[i] += a.After.Diversity
		}
	}
	for i, a := range sets {
		rep.Ratios = append(rep.Ratios, feedbackRatio{Methods: a.String(), Share: round2(shareOn[i] / math.Max(shareOff, 1e-9)),
			Diversity: round2(divOn[i] / divOff)})
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	printFeedback(&rep)
	return nil
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
	return fmt.Sprintf("%v:%g,%g,%g", a.m, a.gains.LikedShare, a.gains.NegWeight, a.gains.ModelWeight)
}

// parseArm reads "replay,negatives" or "all:0.5,1,2".
func parseArm(s string) (armSpec, error) {
	ms, gs, hasGains := strings.Cut(s, ":")
	m, err := gan.ParseMethods(ms)
	if err != nil || !hasGains {
		return armSpec{m: m}, err
	}
	var g gan.Gains
	if n, err := fmt.Sscanf(gs, "%g,%g,%g", &g.LikedShare, &g.NegWeight, &g.ModelWeight); err != nil || n != 3 ||
		g.LikedShare < 0 || g.NegWeight < 0 || g.ModelWeight < 0 {
		return armSpec{}, fmt.Errorf("arm %q: gains are three figures of at least 0, like all:0.25,0.5,0.5", s)
	}
	return armSpec{m: m, gains: &g}, nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// evalLatents are the figures' latents, the same for every arm and step.
const evalLatentSeed, evalN = 0xfeed, 256

func measureFeedback(tr *gan.Trainer, rt rater, ref gan.Reference, model *gan.RatingModel, liked [][]float32) (feedbackMeasure, error) {
	imgs, err := tr.Generator().Generate(gan.RandomLatents(evalN, tr.Config().ZDim, evalLatentSeed))
	if err != nil {
		return feedbackMeasure{}, err
	}
	h := ref.Assess(imgs)
	q, err := tr.Quality()
	if err != nil {
		return feedbackMeasure{}, err
	}
	ql, err := gan.SWD(imgs, rt.likedReal, tr.Config().Res, gan.SWDOptions{Seed: 3})
	if err != nil {
		return feedbackMeasure{}, err
	}
	m := feedbackMeasure{Share: rt.share(imgs), Diversity: round2(h.Diversity), SWD: round1(q.Mean), SWDLiked: round1(ql.Mean),
		ModelShare: -1, BiasShare: -1, BiasDiv: -1, Level: h.Level}
	if model != nil {
		m.ModelShare = model.LikedShare(imgs)
	}
	if len(liked) > 0 {
		z, err := tr.Generator().BiasedLatents(liked, model, evalN, evalLatentSeed)
		if err != nil {
			return m, err
		}
		bi, err := tr.Generator().Generate(z)
		if err != nil {
			return m, err
		}
		m.BiasShare, m.BiasDiv = rt.share(bi), round2(ref.Assess(bi).Diversity)
	}
	return m, nil
}

func feedbackSeedRun(ctx context.Context, ds *datasets.Dataset, rt rater, seed uint64, base, steps, ratings, rounds int, weight float64, sets []armSpec) (feedbackSeed, error) {
	out := feedbackSeed{Seed: seed}
	cfg := spec.DefaultConfig()
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
	for i, m := range append([]armSpec{{}}, sets...) {
		tr, err := gan.ReadCheckpoint(bytes.NewReader(ck.Bytes()), ds)
		if err != nil {
			return out, err
		}
		arm, before, err := feedbackArmRun(ctx, tr, rt, ref, seed, steps, ratings, rounds, weight, m)
		tr.Close()
		if err != nil {
			return out, err
		}
		out.Before = before
		if i == 0 {
			out.Off = arm
		} else {
			out.On = append(out.On, arm)
		}
	}
	return out, nil
}

// feedbackArmRun trains one arm. Every steps/(rounds+1) steps, from the
// checkpoint on, the rater rates fresh samples (the same latents in both
// arms) until it has given its ratings; with feedback on, the trainer gets
// them at once, as the studio's worker does at its next read.
func feedbackArmRun(ctx context.Context, tr *gan.Trainer, rt rater, ref gan.Reference, seed uint64, steps, ratings, rounds int,
	weight float64, m armSpec) (arm feedbackArm, before feedbackMeasure, err error) {
	arm.Methods = m.String()
	on := m.m != 0
	if before, err = measureFeedback(tr, rt, ref, nil, nil); err != nil {
		return
	}
	start := tr.Step()
	every := max(1, steps/(rounds+1))
	per := (ratings + rounds - 1) / rounds
	var liked, disliked, likedZ [][]float32
	var model *gan.RatingModel
	zd := tr.Config().ZDim
	for round := 0; ; round++ {
		if arm.Ratings < ratings && (tr.Step()-start)%every == 0 {
			n := min(per, ratings-arm.Ratings)
			z := gan.RandomLatents(n, zd, seed<<16^uint64(round)^0x7a7e)
			imgs, err := tr.Generator().Generate(z)
			if err != nil {
				return arm, before, err
			}
			for i, img := range imgs {
				if rt.likes(img) {
					liked = append(liked, img)
					likedZ = append(likedZ, z[i*zd:(i+1)*zd])
				} else {
					disliked = append(disliked, img)
				}
			}
			arm.Ratings += n
			if model, err = gan.FitRatingModel(liked, disliked, tr.Config().Res); err != nil && err != gan.ErrFewRatings {
				return arm, before, err
			}
			if on {
				if err := tr.SetFeedback(&gan.Feedback{Liked: liked, Disliked: disliked, Weight: weight, Methods: m.m, Model: model, Gains: m.gains}); err != nil {
					return arm, before, err
				}
			}
			acc := -1.0
			if model != nil {
				acc = model.Accuracy
			}
			fmt.Fprintf(os.Stderr, "seed %d, feedback %s: step %d, %d ratings (%d liked), model accuracy %.2f\n",
				seed, arm.Methods, tr.Step()-start, arm.Ratings, len(liked), acc)
		}
		if tr.Step()-start >= steps {
			break
		}
		if _, err := tr.TrainStep(ctx); err != nil {
			return arm, before, err
		}
	}
	arm.Liked = len(liked)
	arm.After, err = measureFeedback(tr, rt, ref, model, likedZ)
	return arm, before, err
}

func printFeedback(r *feedbackReport) {
	fmt.Printf("rule: likes images whose mean hue is within %.0f° of red (%.0f%% of the training images of %s)\n", r.Threshold, 100*r.RealShare, r.Dataset)
	fmt.Printf("%d base steps, then %d steps per arm; %d ratings per arm; weight %g; gains (liked share, disliked weight, model weight) %g, %g, %g unless the arm says\n\n",
		r.Base, r.Steps, r.Ratings, r.Weight, r.Gains.LikedShare, r.Gains.NegWeight, r.Gains.ModelWeight)
	fmt.Printf("%4s %-22s %6s %7s %6s %9s %6s %10s %9s %6s %7s\n", "seed", "feedback", "liked", "before", "after", "diversity", "SWD", "SWD liked", "health", "model", "biased")
	for _, s := range r.Seeds {
		for _, a := range s.arms() {
			model, bias := "—", "—"
			if a.After.ModelShare >= 0 {
				model = fmt.Sprintf("%.2f", a.After.ModelShare)
			}
			if a.After.BiasShare >= 0 {
				bias = fmt.Sprintf("%.2f", a.After.BiasShare)
			}
			fmt.Printf("%4d %-22s %6d %7.2f %6.2f %9.2f %6.1f %10.1f %9s %6s %7s\n", s.Seed, a.Methods, a.Liked,
				s.Before.Share, a.After.Share, a.After.Diversity, a.After.SWD, a.After.SWDLiked, a.After.Level, model, bias)
		}
	}
	if len(r.Seeds) > 1 {
		for i := range r.Seeds[0].arms() {
			var n, before, after, div, swd, swdl float64
			name := ""
			for _, s := range r.Seeds {
				a := s.arms()[i]
				name = a.Methods
				n++
				before += s.Before.Share
				after += a.After.Share
				div += a.After.Diversity
				swd += a.After.SWD
				swdl += a.After.SWDLiked
			}
			fmt.Printf("%4s %-22s %6s %7.2f %6.2f %9.2f %6.1f %10.1f\n", "mean", name, "", before/n, after/n, div/n, swd/n, swdl/n)
		}
	}
	fmt.Println()
	for _, x := range r.Ratios {
		fmt.Printf("%-22s share after ÷ no feedback's: %.2f× (goal ≥ 2); diversity ÷ no feedback's: %.2f (goal ≥ 0.8)\n", x.Methods, x.Share, x.Diversity)
	}
}
