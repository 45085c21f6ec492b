package gan

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

func TestParseMethods(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Method
		err  bool
	}{
		{"replay", Replay, false},
		{"replay,negatives", Replay | Negatives, false},
		{"model,replay", Replay | ModelLoss, false},
		{"all", Replay | Negatives | ModelLoss | DataPick, false},
		{"data,model", DataPick | ModelLoss, false},
		{"none", 0, false},
		{"", 0, false},
		{"replay,bogus", 0, true},
	} {
		got, err := ParseMethods(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMethods(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil {
			back, _ := ParseMethods(got.String())
			if back != got {
				t.Errorf("%v does not survive String and back: %v", got, back)
			}
		}
	}
}

func TestFeedbackCaps(t *testing.T) {
	imgs := func(n int) [][]float32 { return make([][]float32, n) }
	full := int(math.Round(DefaultGains.LikedShare * 64)) // liked slots at weight 1 of a batch of 64
	for _, tc := range []struct {
		name         string
		f            *Feedback
		slots        int
		negW, modelW float64
		batch        int
	}{
		{"nil", nil, 0, 0, 0, 64},
		{"weight 0", &Feedback{Liked: imgs(100), Disliked: imgs(10), Methods: DefaultMethods, Model: &RatingModel{}}, 0, 0, 0, 64},
		{"weight 1", &Feedback{Liked: imgs(100), Disliked: imgs(10), Weight: 1, Methods: DefaultMethods, Model: &RatingModel{}}, full, DefaultGains.NegWeight, DefaultGains.ModelWeight, 64},
		{"weight 0.5", &Feedback{Liked: imgs(100), Disliked: imgs(10), Weight: 0.5, Methods: DefaultMethods}, full / 2, DefaultGains.NegWeight / 2, 0, 64},
		{"no more slots than distinct likes", &Feedback{Liked: imgs(3), Weight: 1, Methods: DefaultMethods}, 3, 0, 0, 64},
		{"weight above 1 is 1", &Feedback{Liked: imgs(100), Weight: 7, Methods: DefaultMethods}, full, 0, 0, 64},
		{"NaN weight is off", &Feedback{Liked: imgs(100), Disliked: imgs(3), Weight: math.NaN(), Methods: DefaultMethods}, 0, 0, 0, 64},
		{"negative weight is off", &Feedback{Liked: imgs(100), Weight: -1, Methods: DefaultMethods}, 0, 0, 0, 64},
		{"replay switched off", &Feedback{Liked: imgs(100), Disliked: imgs(5), Weight: 1, Methods: Negatives}, 0, DefaultGains.NegWeight, 0, 64},
		{"negatives switched off", &Feedback{Liked: imgs(100), Disliked: imgs(5), Weight: 1, Methods: Replay}, full, 0, 0, 64},
		{"gains of its own", &Feedback{Liked: imgs(100), Disliked: imgs(5), Weight: 0.5, Methods: DefaultMethods, Model: &RatingModel{},
			Gains: &Gains{LikedShare: 0.5, NegWeight: 1, ModelWeight: 2}}, 16, 0.5, 1, 64},
		{"a liked share above 1 is the whole batch", &Feedback{Liked: imgs(100), Weight: 1, Methods: Replay, Gains: &Gains{LikedShare: 3}}, 64, 0, 0, 64},
		{"a liked cap of a quarter", &Feedback{Liked: imgs(12), Weight: 1, Methods: Replay, Gains: &Gains{LikedShare: 0.5, LikedCap: 0.25}}, 3, 0, 0, 64},
		{"a liked cap keeps one", &Feedback{Liked: imgs(2), Weight: 1, Methods: Replay, Gains: &Gains{LikedShare: 0.5, LikedCap: 0.1}}, 1, 0, 0, 64},
		{"a liked cap of 1 is none", &Feedback{Liked: imgs(12), Weight: 1, Methods: Replay, Gains: &Gains{LikedShare: 0.5, LikedCap: 1}}, 12, 0, 0, 64},
	} {
		if got := tc.f.LikedSlots(tc.batch); got != tc.slots {
			t.Errorf("%s: %d liked slots, want %d", tc.name, got, tc.slots)
		}
		if got := tc.f.negWeight(); math.Abs(got-tc.negW) > 1e-12 {
			t.Errorf("%s: disliked weight %g, want %g", tc.name, got, tc.negW)
		}
		if got := tc.f.modelWeight(); math.Abs(got-tc.modelW) > 1e-12 {
			t.Errorf("%s: model weight %g, want %g", tc.name, got, tc.modelW)
		}
	}
}

// tinted makes n noisy images whose colour leans warm (red up, blue down)
// or cool.
func tinted(r *rand.Rand, n, res int, warm bool) [][]float32 {
	out := make([][]float32, n)
	plane := res * res
	for k := range out {
		img := make([]float32, 3*plane)
		lean := float32(0.15 + 0.3*r.Float64())
		if !warm {
			lean = -lean
		}
		for i := 0; i < plane; i++ {
			base := float32(r.NormFloat64() * 0.4)
			img[i] = base + lean
			img[plane+i] = base
			img[2*plane+i] = base - lean
		}
		out[k] = img
	}
	return out
}

func TestFitRatingModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const res = 32
	if _, err := FitRatingModel(tinted(r, 3, res, true), tinted(r, 10, res, false), res); err != ErrFewRatings {
		t.Fatalf("3 likes: %v, want ErrFewRatings", err)
	}
	m, err := FitRatingModel(tinted(r, 30, res, true), tinted(r, 60, res, false), res)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accuracy < 0.95 {
		t.Errorf("accuracy on its own ratings %.2f", m.Accuracy)
	}
	// Held-out images: the model generalises the rule.
	if s := m.LikedShare(tinted(r, 100, res, true)); s < 0.9 {
		t.Errorf("likes %.2f of new warm images", s)
	}
	if s := m.LikedShare(tinted(r, 100, res, false)); s > 0.1 {
		t.Errorf("likes %.2f of new cool images", s)
	}
	// The per-pixel form (what the generator's graph uses) is the pooled model.
	for _, img := range tinted(r, 5, res, true) {
		f := m.features(img)
		want := m.b
		for k := range f {
			want += m.w[k] * (f[k] - m.mu[k]) / m.sd[k]
		}
		if got := m.Score(img); math.Abs(got-want) > 1e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("pixel score %g, pooled score %g", got, want)
		}
	}
	if _, err := FitRatingModel(tinted(r, 5, res, true), tinted(r, 5, 16, false), res); err == nil {
		t.Error("images of the wrong size were accepted")
	}
}

func constImage(res int, v float32) []float32 {
	img := make([]float32, 3*res*res)
	for i := range img {
		img[i] = v
	}
	return img
}

// The feedback batches hold what SetFeedback gave, in the shares the
// weight sets.
func TestFeedbackReachesBatches(t *testing.T) {
	cfg := tinyConfig()
	src := testSource(cfg.Res)
	tr, err := NewTrainer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	per := 3 * cfg.Res * cfg.Res
	disliked := constImage(cfg.Res, -0.25)
	r := rand.New(rand.NewPCG(3, 4))
	model, err := FitRatingModel(tinted(r, 8, cfg.Res, true), tinted(r, 8, cfg.Res, false), cfg.Res)
	if err != nil {
		t.Fatal(err)
	}
	var likes [][]float32
	for i := 0; i < 10; i++ {
		likes = append(likes, constImage(cfg.Res, 0.5+float32(i)/64))
	}
	if err := tr.SetFeedback(&Feedback{Liked: likes, Disliked: [][]float32{disliked}, Weight: 1, Methods: DefaultMethods, Model: model}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := min(10, int(math.Round(DefaultGains.LikedShare*float64(cfg.Batch))))
	if tr.lastLikedSlots != want {
		t.Errorf("%d liked slots, want %d", tr.lastLikedSlots, want)
	}
	real := nn.F32(tr.real)
	seen := map[float32]bool{}
	for i := 0; i < cfg.Batch; i++ {
		v := real[i*per]
		isLiked := v >= 0.5 && v < 0.5+10.0/64 && real[(i+1)*per-1] == v
		if isLiked != (i < want) {
			t.Errorf("real slot %d: liked %v", i, isLiked)
		}
		if isLiked && seen[v] {
			t.Errorf("real slot %d repeats a liked image while others wait", i)
		}
		seen[v] = true
	}
	for _, v := range nn.F32(tr.neg) {
		if v != -0.25 {
			t.Fatalf("disliked batch holds %g", v)
		}
	}
	if got := sum32(nn.F32(tr.negW)); math.Abs(got-DefaultGains.NegWeight) > 1e-6 {
		t.Errorf("disliked weights sum to %g, want %g", got, DefaultGains.NegWeight)
	}
	if got := sum32(nn.F32(tr.modelW)); math.Abs(got-DefaultGains.ModelWeight) > 1e-6 {
		t.Errorf("model weights sum to %g, want %g", got, DefaultGains.ModelWeight)
	}
	if nn.F32(tr.modelVec)[7] != model.pixelW[7] {
		t.Error("the rating model's weights are not in the graph")
	}
	// A new batch replaces the old one; weight 0 leaves the real batch alone.
	if err := tr.SetFeedback(&Feedback{Liked: likes[:1], Weight: 0, Methods: DefaultMethods}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tr.lastLikedSlots != 0 || sum32(nn.F32(tr.negW)) != 0 || sum32(nn.F32(tr.modelW)) != 0 {
		t.Errorf("weight 0: %d liked slots, disliked weight %g, model weight %g", tr.lastLikedSlots, sum32(nn.F32(tr.negW)), sum32(nn.F32(tr.modelW)))
	}
	// Feedback withdrawn (every rating cleared): the graphs keep their
	// feedback parts, weighted 0.
	if err := tr.SetFeedback(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tr.lastLikedSlots != 0 || sum32(nn.F32(tr.negW)) != 0 || sum32(nn.F32(tr.modelW)) != 0 {
		t.Error("feedback withdrawn, but the batches still use it")
	}
	if err := tr.SetFeedback(&Feedback{Liked: [][]float32{make([]float32, 5)}, Weight: 1}); err == nil {
		t.Error("an image of the wrong size was accepted")
	}
}

// The disliked batch's loss reaches D: the same first step, with and
// without it.
func TestNegativesEnterDiscriminatorLoss(t *testing.T) {
	cfg := tinyConfig()
	loss := func(w float64) float64 {
		tr, err := NewTrainer(cfg, testSource(cfg.Res))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if err := tr.SetFeedback(&Feedback{Disliked: [][]float32{constImage(cfg.Res, 0.3), constImage(cfg.Res, -0.3)}, Weight: w, Methods: Negatives}); err != nil {
			t.Fatal(err)
		}
		st, err := tr.TrainStep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.LossD
	}
	off, on := loss(0), loss(1)
	// softplus(D(x)) is about log 2 for an untrained D, weighted 1.
	if on-off < 0.3 {
		t.Errorf("D's loss %.3f with the disliked batch, %.3f without", on, off)
	}
}

func sum32(xs []float32) float64 {
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return s
}

// The rating model's loss moves the generator toward what the model likes:
// from one checkpoint, the same steps with and without it.
func TestModelLossSteersGenerator(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	cfg := tinyConfig()
	src := testSource(cfg.Res)
	tr, err := NewTrainer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if _, err := tr.TrainStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var ck bytes.Buffer
	if err := tr.WriteCheckpoint(&ck); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	r := rand.New(rand.NewPCG(5, 6))
	model, err := FitRatingModel(tinted(r, 20, cfg.Res, true), tinted(r, 20, cfg.Res, false), cfg.Res)
	if err != nil {
		t.Fatal(err)
	}
	z := RandomLatents(64, cfg.ZDim, 9)
	score := func(f *Feedback) float64 {
		tr, err := ReadCheckpoint(bytes.NewReader(ck.Bytes()), src)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if err := tr.SetFeedback(f); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 60; i++ {
			if _, err := tr.TrainStep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		imgs, err := tr.Generator().Generate(z)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, img := range imgs {
			s += model.Score(img) / float64(len(imgs))
		}
		return s
	}
	off := score(nil)
	on := score(&Feedback{Weight: 1, Methods: ModelLoss, Model: model})
	t.Logf("mean rating-model logit after 60 steps: %.2f without its loss, %.2f with", off, on)
	if on < off+0.5 {
		t.Errorf("the model's loss did not steer the generator: logit %.2f with, %.2f without", on, off)
	}
}

func tinyConfig() spec.Config {
	cfg, _ := spec.Preset("tiny")
	cfg.Batch = 16
	return cfg
}

func testSource(res int) Source { return noiseSource{res} }

// On ratings that contradict each other (overlapping classes, some labels
// flipped) the fit still reaches the optimum: no direction lowers the
// objective it minimises.
func TestFitRatingModelOptimum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const res = 16
	liked, disliked := tinted(r, 40, res, true), tinted(r, 60, res, false)
	liked = append(liked, disliked[:10]...) // flipped labels
	disliked = append(disliked[10:], liked[:8]...)
	liked = liked[8:]
	m, err := FitRatingModel(liked, disliked, res)
	if err != nil {
		t.Fatal(err)
	}
	type ex struct {
		x    []float64
		y, w float64
	}
	var exs []ex
	for _, set := range []struct {
		imgs [][]float32
		y    float64
	}{{liked, 1}, {disliked, -1}} {
		for _, img := range set.imgs {
			f := m.features(img)
			for k := range f {
				f[k] = (f[k] - m.mu[k]) / m.sd[k]
			}
			exs = append(exs, ex{f, set.y, 0.5 / float64(len(set.imgs))})
		}
	}
	obj := func(w []float64, b float64) float64 {
		var j float64
		for _, e := range exs {
			j += e.w * softplus64(-e.y*(b+dot(w, e.x)))
		}
		return j + 0.5*0.02*dot(w, w)
	}
	best := obj(m.w, m.b)
	for i := 0; i < 40; i++ {
		w := append([]float64(nil), m.w...)
		for k := range w {
			w[k] += 1e-3 * r.NormFloat64()
		}
		b := m.b + 1e-3*r.NormFloat64()
		if j := obj(w, b); j < best-1e-9 {
			t.Fatalf("a nearby point lowers the objective: %.9f < %.9f", j, best)
		}
	}
}

// A rating session shows the candidates the model is least sure of first,
// most uncertain first, then keeps its random share: drawn from the rest,
// different for different seeds; without a model, all at random.
func TestPickForRating(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const res = 32
	m, err := FitRatingModel(tinted(r, 30, res, true), tinted(r, 30, res, false), res)
	if err != nil {
		t.Fatal(err)
	}
	// Candidates from clearly cool to clearly warm, mixed up.
	var pool [][]float32
	for i := 0; i < 16; i++ {
		pool = append(pool, tinted(r, 1, res, true)[0], tinted(r, 1, res, false)[0])
	}
	abs := func(i int) float64 { return math.Abs(m.Score(pool[i])) }
	sorted := make([]int, len(pool))
	for i := range sorted {
		sorted[i] = i
	}
	sort.Slice(sorted, func(a, b int) bool { return abs(sorted[a]) < abs(sorted[b]) })

	seen := map[string]bool{}
	for seed := uint64(1); seed <= 8; seed++ {
		got := PickForRating(m, pool, 8, 0.25, seed)
		if len(got) != 8 {
			t.Fatalf("picked %d, want 8", len(got))
		}
		// round(0.25·8) = 2 random, 6 uncertain: exactly the 6 least sure, in order.
		for i := 0; i < 6; i++ {
			if got[i] != sorted[i] {
				t.Fatalf("seed %d: pick %d is candidate %d (|score| %.3f), want %d (%.3f)", seed, i, got[i], abs(got[i]), sorted[i], abs(sorted[i]))
			}
		}
		dup := map[int]bool{}
		for _, i := range got {
			if dup[i] {
				t.Fatalf("seed %d: candidate %d picked twice: %v", seed, i, got)
			}
			dup[i] = true
		}
		seen[fmt.Sprint(got[6:])] = true
	}
	if len(seen) < 4 {
		t.Errorf("the random share took only %d different pairs over 8 seeds: %v", len(seen), seen)
	}
	// Over many seeds the random share reaches the sure candidates too.
	sure := 0
	for seed := uint64(1); seed <= 50; seed++ {
		for _, i := range PickForRating(m, pool, 8, 0.25, seed)[6:] {
			if abs(i) > abs(sorted[len(sorted)/2]) {
				sure++
			}
		}
	}
	if sure < 20 {
		t.Errorf("the random share picked a candidate surer than the median %d times in 100", sure)
	}
	// A small share still keeps one at random; none keeps none.
	other := 0
	for seed := uint64(1); seed <= 10; seed++ {
		got := PickForRating(m, pool, 8, 0.01, seed)
		if fmt.Sprint(got[:7]) != fmt.Sprint(sorted[:7]) {
			t.Fatalf("share 0.01: %v, want the 7 least sure first %v", got, sorted[:7])
		}
		if got[7] != sorted[7] {
			other++
		}
	}
	if other < 5 {
		t.Errorf("share 0.01 kept no random pick: the 8th was the 8th least sure %d times in 10", 10-other)
	}
	if got := PickForRating(m, pool, 8, 0, 1); fmt.Sprint(got) != fmt.Sprint(sorted[:8]) {
		t.Errorf("share 0: %v, want the 8 least sure %v", got, sorted[:8])
	}
	// No model: n distinct at random; more than there are: all.
	a, b := PickForRating(nil, pool, 8, 0.25, 1), PickForRating(nil, pool, 8, 0.25, 2)
	if len(a) != 8 || fmt.Sprint(a) == fmt.Sprint(b) {
		t.Errorf("without a model: %v and %v", a, b)
	}
	if got := PickForRating(m, pool, 100, 0.25, 1); len(got) != len(pool) {
		t.Errorf("asked for 100 of %d: got %d", len(pool), len(got))
	}
	if got := PickForRating(m, pool, 0, 0.25, 1); len(got) != 0 {
		t.Errorf("asked for none: got %v", got)
	}
}

// sliceSource serves images held in memory.
type sliceSource struct {
	res  int
	imgs [][]float32
}

func (s sliceSource) Len() int                   { return len(s.imgs) }
func (s sliceSource) Res() int                   { return s.res }
func (s sliceSource) Image(i int, dst []float32) { copy(dst, s.imgs[i]) }

func warmth(img []float32, res int) float32 {
	plane := res * res
	var s float32
	for i := 0; i < plane; i++ {
		s += img[i] - img[2*plane+i]
	}
	return s / float32(plane)
}

// The data method fills its share of the real batch with training images
// the rating model likes, mirrored ones included when the run mirrors its
// data, and leaves the rest of the batch to the whole set.
func TestDataPickFillsRealBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cfg := tinyConfig()
	cfg.Batch = 32
	cfg.Mirror = true
	// A third of the training images are warm: the model likes those.
	warm, cool := tinted(r, 20, cfg.Res, true), tinted(r, 40, cfg.Res, false)
	tr, err := NewTrainer(cfg, sliceSource{cfg.Res, append(append([][]float32{}, warm...), cool...)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	model, err := FitRatingModel(tinted(r, 20, cfg.Res, true), tinted(r, 20, cfg.Res, false), cfg.Res)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetFeedback(&Feedback{Weight: 0.5, Methods: DataPick, Model: model}); err != nil {
		t.Fatal(err)
	}
	if got := tr.LikedData(); got != 2*len(warm) {
		t.Fatalf("the model likes %d training images (mirrored apart), want %d", got, 2*len(warm))
	}
	per := 3 * cfg.Res * cfg.Res
	cooler := 0
	for step := 0; step < 5; step++ {
		if _, err := tr.TrainStep(context.Background()); err != nil {
			t.Fatal(err)
		}
		real := nn.F32(tr.real)
		picked := int(math.Round(0.5 * float64(cfg.Batch)))
		for i := 0; i < cfg.Batch; i++ {
			w := warmth(real[i*per:(i+1)*per], cfg.Res)
			if i < picked && w <= 0 {
				t.Fatalf("step %d: real slot %d (of the data share) holds a cool image", step, i)
			}
			if i >= picked && w < 0 {
				cooler++
			}
		}
	}
	// The other slots draw from the whole set: two in three are cool.
	if cooler < 40 {
		t.Errorf("%d cool images in 80 slots outside the data share, want about 53", cooler)
	}
	// Without a model, or with the method off, nothing is picked.
	if err := tr.SetFeedback(&Feedback{Weight: 0.5, Methods: Replay, Model: model}); err != nil {
		t.Fatal(err)
	}
	if tr.LikedData() != 0 {
		t.Errorf("the data method off, yet %d liked training images kept", tr.LikedData())
	}
	if err := tr.SetFeedback(&Feedback{Weight: 0.5, Methods: DataPick}); err != nil {
		t.Fatal(err)
	}
	if tr.LikedData() != 0 {
		t.Errorf("no model, yet %d liked training images kept", tr.LikedData())
	}
}
