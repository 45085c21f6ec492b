package gan

import (
	"fmt"
	"math"

	"github.com/ganstudio/ganstudio/gan/nn"
)

// Feedback is what designers' ratings give training: the images they
// liked and disliked, how strongly to use them, and a rating model fitted
// to them. Training uses it three ways, each switched by Methods:
//   - Replay (FBGAN, Gupta & Zou 2019): liked images take some of the slots
//     of the discriminator's real batch, so D learns "liked looks real" and
//     G is pulled toward them.
//   - Negatives (negative data augmentation, Sinha et al. 2021): disliked
//     images form an extra batch D must call fake, so G is pushed off them
//     even where they look like the data.
//   - Model: the rating model's verdict on G's images is an extra generator
//     loss, -log σ(r(G(z))), weighted.
//   - Data: the rating model judges the training images, and the ones it
//     likes take a share of D's real batch. Unlike replay, this shows D
//     more of what is liked in the data itself, not G's own attempts at
//     it, so the pull toward liked regions costs less in quality.
type Feedback struct {
	Liked, Disliked [][]float32 // rated images, planar RGB (CHW) in [-1, 1]
	Weight          float64     // 0 (off) to 1: scales every share and loss below
	Methods         Method
	Model           *RatingModel // nil until there are enough ratings of both kinds
	// Gains sets the shares and weights at weight 1; nil is DefaultGains.
	Gains *Gains
}

// Gains are feedback's shares and weights at weight 1.
type Gains struct {
	// LikedShare caps the share of D's real batch that liked images
	// take. They never take more slots than there are distinct liked
	// images either: D must keep learning the data, and a handful of likes
	// replayed over and over would teach G to copy them (a collapse onto
	// favourites).
	LikedShare float64 `json:"liked_share"`
	// NegWeight weighs the disliked batch's loss against the fakes' loss.
	NegWeight float64 `json:"neg_weight"`
	// ModelWeight weighs the rating model's loss against the adversarial one.
	ModelWeight float64 `json:"model_weight"`
	// DataShare caps the share of the real batch's other slots (those
	// liked images leave) that training images the model likes take.
	DataShare float64 `json:"data_share"`
	// LikedCap, between 0 and 1, caps the liked slots at this share of
	// the distinct liked images, so that each is in about that share of
	// the batches; 0 is 1: every liked image may be in every batch.
	LikedCap float64 `json:"liked_cap,omitempty"`
}

// DefaultGains are the studio's, chosen by `ganstudio bench feedback`.
var DefaultGains = Gains{LikedShare: 0.5, NegWeight: 1, ModelWeight: 2, DataShare: 1}

func (f *Feedback) gains() Gains {
	if f.Gains != nil {
		return *f.Gains
	}
	return DefaultGains
}

// Method is a set of ways feedback reaches training.
type Method uint8

const (
	Replay Method = 1 << iota
	Negatives
	ModelLoss
	DataPick

	// DefaultMethods is the set the studio uses, chosen by `ganstudio bench
	// feedback` (see the README's table).
	DefaultMethods = Replay | Negatives | ModelLoss
)

// ParseMethods reads a comma-separated list: replay, negatives, model,
// data, all.
func ParseMethods(s string) (Method, error) {
	var m Method
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		switch w := s[start:i]; w {
		case "replay":
			m |= Replay
		case "negatives":
			m |= Negatives
		case "model":
			m |= ModelLoss
		case "data":
			m |= DataPick
		case "all":
			m |= Replay | Negatives | ModelLoss | DataPick
		case "none", "":
		default:
			return 0, fmt.Errorf("unknown feedback method %q (have replay, negatives, model, data, all, none)", w)
		}
		start = i + 1
	}
	return m, nil
}

func (m Method) String() string {
	if m == 0 {
		return "none"
	}
	s := ""
	for _, x := range []struct {
		m    Method
		name string
	}{{Replay, "replay"}, {Negatives, "negatives"}, {ModelLoss, "model"}, {DataPick, "data"}} {
		if m&x.m != 0 {
			if s != "" {
				s += ","
			}
			s += x.name
		}
	}
	return s
}

// NegBatchShare sizes the disliked batch against the real batch.
const NegBatchShare = 0.25

// LikedSlots is how many of a real batch of n are liked images.
func (f *Feedback) LikedSlots(n int) int {
	if f == nil || f.Methods&Replay == 0 || len(f.Liked) == 0 {
		return 0
	}
	k := int(math.Round(clamp01(f.Weight) * math.Min(f.gains().LikedShare, 1) * float64(n)))
	most := len(f.Liked)
	if c := f.gains().LikedCap; c > 0 && c < 1 {
		most = max(1, int(math.Round(c*float64(most))))
	}
	return min(k, most)
}

// dataSlots is how many of n real slots training images the rating model
// likes take, when it likes some (have of them).
func (f *Feedback) dataSlots(n, have int) int {
	if f == nil || f.Methods&DataPick == 0 || f.Model == nil || have == 0 {
		return 0
	}
	return int(math.Round(clamp01(f.Weight) * math.Min(f.gains().DataShare, 1) * float64(n)))
}

// negWeight is the weight of the disliked batch's loss (0: none).
func (f *Feedback) negWeight() float64 {
	if f == nil || f.Methods&Negatives == 0 || len(f.Disliked) == 0 {
		return 0
	}
	return clamp01(f.Weight) * f.gains().NegWeight
}

// modelWeight is the weight of the rating model's generator loss.
func (f *Feedback) modelWeight() float64 {
	if f == nil || f.Methods&ModelLoss == 0 || f.Model == nil {
		return 0
	}
	return clamp01(f.Weight) * f.gains().ModelWeight
}

func clamp01(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	return math.Min(x, 1)
}

// negBatch is the size of the disliked batch for a real batch of n.
func negBatch(n int) int { return max(2, int(math.Round(NegBatchShare*float64(n)))) }

// SetFeedback gives training the latest ratings; nil turns feedback off.
// The first call with feedback rebuilds the training graphs with the
// disliked batch and the rating model's loss in them (a run without
// feedback never pays for either); later calls only swap the data.
func (t *Trainer) SetFeedback(f *Feedback) error {
	if f != nil {
		per := 3 * t.cfg.Res * t.cfg.Res
		for _, set := range [][][]float32{f.Liked, f.Disliked} {
			for _, img := range set {
				if len(img) != per {
					return fmt.Errorf("feedback image has %d values, the run's images %d", len(img), per)
				}
			}
		}
		if f.Model != nil && f.Model.Res != t.cfg.Res {
			return fmt.Errorf("rating model is for %d×%d images, the run's are %d×%d", f.Model.Res, f.Model.Res, t.cfg.Res, t.cfg.Res)
		}
	}
	t.fb = f
	t.findLikedData()
	if f == nil || t.fbGraphs {
		return nil
	}
	if t.acc != nil {
		// The device step adds the feedback parts when their weights
		// are set; it needs only the host inputs.
		t.fbGraphs = true
		t.inputs()
		return nil
	}
	// Compile the new graphs first: if that fails, the old ones still train.
	oldD, oldG := t.dStep, t.gStep
	t.fbGraphs = true
	if err := t.compile(); err != nil {
		t.dStep, t.gStep, t.fbGraphs, t.fb = oldD, oldG, false, nil
		return fmt.Errorf("graphs with feedback: %w", err)
	}
	oldD.Close()
	oldG.Close()
	return nil
}

// findLikedData finds the training images the rating model likes, each
// as it is and (when the run mirrors its data) mirrored, once per model.
// A run with more than maxLikedDataScan images scans that many, spread
// over the set, so that a read of new ratings stays quick.
func (t *Trainer) findLikedData() {
	f := t.fb
	if f == nil || f.Methods&DataPick == 0 || f.Model == nil {
		t.likedData, t.likedDataFor = t.likedData[:0], nil
		return
	}
	if f.Model == t.likedDataFor {
		return
	}
	t.likedData, t.likedDataFor = t.likedData[:0], f.Model
	n := t.src.Len()
	stride := max(1, n/maxLikedDataScan)
	img := make([]float32, 3*t.cfg.Res*t.cfg.Res)
	for i := 0; i < n; i += stride {
		t.src.Image(i, img)
		if f.Model.Score(img) > 0 {
			t.likedData = append(t.likedData, 2*i)
		}
		if t.cfg.Mirror {
			mirror(img, t.cfg.Res)
			if f.Model.Score(img) > 0 {
				t.likedData = append(t.likedData, 2*i+1)
			}
		}
	}
}

// maxLikedDataScan bounds the training images findLikedData scores.
const maxLikedDataScan = 20_000

// LikedData is how many training images (mirrored ones counted apart) the
// rating model likes, for DataPick; 0 without it.
func (t *Trainer) LikedData() int { return len(t.likedData) }

// Feedback returns what SetFeedback last gave.
func (t *Trainer) Feedback() *Feedback { return t.fb }

// fillFeedback puts liked images in the first slots of the real batch,
// disliked ones in the negative batch, and the rating model's weights in
// the generator graph. The real batch's other slots are filled by the caller.
func (t *Trainer) fillFeedback(real []float32) (likedSlots int) {
	if !t.fbGraphs {
		return 0
	}
	f, per := t.fb, 3*t.cfg.Res*t.cfg.Res
	likedSlots = f.LikedSlots(t.cfg.Batch)
	// Distinct liked images, drawn without replacement (a partial shuffle).
	if likedSlots > 0 {
		idx := t.likedIdx[:0]
		for i := range f.Liked {
			idx = append(idx, i)
		}
		t.likedIdx = idx
		for i := 0; i < likedSlots; i++ {
			j := i + t.rng.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
			copy(real[i*per:(i+1)*per], f.Liked[idx[i]])
		}
	}
	// The weights live in per-example vectors (weight ÷ batch in each
	// element), so a weighted mean is a sum of a product the graphs
	// already hold; their tensors are rewritten in place like the batches.
	wn := f.negWeight()
	neg, nw := nn.F32(t.neg), nn.F32(t.negW)
	fill(nw, float32(wn/float64(len(nw))))
	if wn > 0 {
		for i := 0; i < len(neg)/per; i++ {
			copy(neg[i*per:(i+1)*per], f.Disliked[t.rng.IntN(len(f.Disliked))])
		}
	}
	wm := f.modelWeight()
	mw := nn.F32(t.modelW)
	fill(mw, float32(wm/float64(len(mw))))
	if wm > 0 {
		copy(nn.F32(t.modelVec), f.Model.pixelW)
		fill(nn.F32(t.modelB), float32(f.Model.pixelB))
	}
	return likedSlots
}

func fill(xs []float32, v float32) {
	for i := range xs {
		xs[i] = v
	}
}
