package gan

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"

	"github.com/ganstudio/ganstudio/gan/nn"
)

// Diversity measures for mode-collapse detection: how alike generated
// images are, against the same figure for real images. All take images as
// flat vectors (planar RGB in [-1, 1], as Generate returns them) and need
// no pretrained network.

// distances returns the n×m matrix of Euclidean distances between the rows
// of a and b, through one matrix product (‖a‖² + ‖b‖² − 2a·b).
func distances(a, b [][]float32) [][]float64 {
	n, m, dim := len(a), len(b), len(a[0])
	fa, fb := make([]float32, n*dim), make([]float32, m*dim)
	for i, v := range a {
		copy(fa[i*dim:], v)
	}
	for j, v := range b {
		copy(fb[j*dim:], v)
	}
	dot := make([]float32, n*m)
	nn.Sgemm(blas.NoTrans, blas.Trans, n, m, dim, 1, fa, dim, fb, dim, 0, dot, m)
	sq := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return s
	}
	na, nb := make([]float64, n), make([]float64, m)
	for i := range a {
		na[i] = sq(a[i])
	}
	for j := range b {
		nb[j] = sq(b[j])
	}
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, m)
		for j := range out[i] {
			out[i][j] = math.Sqrt(math.Max(0, na[i]+nb[j]-2*float64(dot[i*m+j])))
		}
	}
	return out
}

// MeanPairwiseDistance is the mean distance between two different images
// of the set: it falls towards 0 as a generator collapses.
func MeanPairwiseDistance(x [][]float32) float64 {
	if len(x) < 2 {
		return 0
	}
	d := distances(x, x)
	var sum float64
	for i := range d {
		for j := i + 1; j < len(d); j++ {
			sum += d[i][j]
		}
	}
	return sum / float64(len(x)*(len(x)-1)/2)
}

// NearestNeighbourDistances gives, for each image, the distance to the
// closest other image of the same set.
func NearestNeighbourDistances(x [][]float32) []float64 {
	d := distances(x, x)
	out := make([]float64, len(x))
	for i := range d {
		out[i] = math.Inf(1)
		for j, v := range d[i] {
			if j != i && v < out[i] {
				out[i] = v
			}
		}
	}
	return out
}

// NearDuplicateRate is the share of images whose nearest neighbour in the
// set is closer than threshold: the birthday-paradox test of Arora & Zhang
// (2017), with the threshold taken from the real data (DuplicateThreshold).
func NearDuplicateRate(x [][]float32, threshold float64) float64 {
	nn := NearestNeighbourDistances(x)
	dup := 0
	for _, v := range nn {
		if v < threshold {
			dup++
		}
	}
	return float64(dup) / float64(len(x))
}

// DuplicateThreshold is the distance below which two images count as the
// same: half the smallest nearest-neighbour distance among real images, so
// no two real images are duplicates of each other.
func DuplicateThreshold(real [][]float32) float64 {
	nn := NearestNeighbourDistances(real)
	return slices.Min(nn) / 2
}

// Support is the region the real data occupies, as the union of balls
// around each real sample reaching its k-th nearest real neighbour: the
// improved precision of Kynkäänniemi et al. (2019).
type Support struct {
	real  [][]float32
	radii []float64
}

// NewSupport measures the real samples' k-nearest-neighbour radii.
func NewSupport(real [][]float32, k int) *Support {
	d := distances(real, real)
	radii := make([]float64, len(real))
	for i, row := range d {
		s := slices.Clone(row)
		slices.Sort(s) // s[0] is the sample itself
		radii[i] = s[min(k, len(s)-1)]
	}
	return &Support{real: real, radii: radii}
}

// Precision is the share of samples inside the real data's support: near
// 1 for a generator whose samples all look like some of the data, low for
// one whose samples fall between the data's modes.
func (s *Support) Precision(fake [][]float32) float64 {
	d := distances(fake, s.real)
	in := 0
	for _, row := range d {
		for j, v := range row {
			if v <= s.radii[j] {
				in++
				break
			}
		}
	}
	return float64(in) / float64(len(fake))
}

// Bins are k-means cells of the real data, for the number-of-statistically-
// different-bins test (NDB, Richardson & Weiss 2018): a generator that
// covers the data fills each cell in about the same proportion.
type Bins struct {
	centres [][]float32
	share   []float64 // of the real images, per cell
	n       int       // real images
}

// NewBins clusters real images into k cells (k-means++ start, 15 rounds).
func NewBins(real [][]float32, k int, seed uint64) *Bins {
	k = min(k, len(real))
	r := rand.New(rand.NewPCG(seed, 17))
	centres := [][]float32{slices.Clone(real[r.IntN(len(real))])}
	for len(centres) < k {
		d := distances(real, centres)
		w := make([]float64, len(real))
		var total float64
		for i := range d {
			w[i] = slices.Min(d[i])
			w[i] *= w[i]
			total += w[i]
		}
		pick, u := 0, r.Float64()*total
		for i := range w {
			if u -= w[i]; u <= 0 {
				pick = i
				break
			}
		}
		centres = append(centres, slices.Clone(real[pick]))
	}
	b := &Bins{centres: centres, n: len(real)}
	for round := 0; round < 15; round++ {
		assign := b.assign(real)
		sums := make([][]float64, k)
		counts := make([]int, k)
		for i, c := range assign {
			if sums[c] == nil {
				sums[c] = make([]float64, len(real[i]))
			}
			for j, v := range real[i] {
				sums[c][j] += float64(v)
			}
			counts[c]++
		}
		for c := range centres {
			if counts[c] == 0 {
				continue
			}
			for j := range centres[c] {
				centres[c][j] = float32(sums[c][j] / float64(counts[c]))
			}
		}
	}
	b.share = b.shares(real)
	return b
}

func (b *Bins) assign(x [][]float32) []int {
	d := distances(x, b.centres)
	out := make([]int, len(x))
	for i := range d {
		out[i] = slices.Index(d[i], slices.Min(d[i]))
	}
	return out
}

func (b *Bins) shares(x [][]float32) []float64 {
	out := make([]float64, len(b.centres))
	for _, c := range b.assign(x) {
		out[c] += 1 / float64(len(x))
	}
	return out
}

// NDB returns the share of cells whose proportion of generated images
// differs from the real one by a two-proportion z-test at α = 0.05.
func (b *Bins) NDB(fake [][]float32) float64 {
	fs := b.shares(fake)
	nf := float64(len(fake))
	nr := float64(b.n)
	diff := 0
	for c := range fs {
		p := (fs[c]*nf + b.share[c]*nr) / (nf + nr)
		se := math.Sqrt(p * (1 - p) * (1/nf + 1/nr))
		if se > 0 && math.Abs(fs[c]-b.share[c])/se > 1.96 {
			diff++
		}
	}
	return float64(diff) / float64(len(fs))
}

// NearCopies is how close generated images come to the training set.
type NearCopies struct {
	// Share is the share of the samples nearer their nearest training
	// image than that image's copy radius (CopyIndex).
	Share   float64
	Nearest []int     // per sample, its nearest training image
	Dist    []float64 // per sample, the distance to it
	Ratio   []float64 // per sample, Dist over that image's copy radius (< 1: a near-copy)
}

// CopyIndex holds a training set's nearest-neighbour distances, measured
// once, for counting near-copies among samples (Measure). A sample is a
// near-copy of its nearest training image when it is closer to it than
// the image's radius: its distance to its own nearest neighbour in the
// set, but no more than the set's median such distance. The radius is per
// image because a small set's images sit at very different distances from
// each other (a face among faces); the cap, because an image alone in its
// region (a frog among faces) has a radius so wide that an untrained
// generator's grey blob falls inside it: on builtin:openmoji, without the
// cap, every sample of a 16-step DCGAN counted as a near-copy of the frog.
type CopyIndex struct {
	train [][]float32
	// Each training image's nearest and second-nearest other image, so
	// that its neighbour distance without any one image is at hand.
	first, second []float64
	firstAt       []int
	cap           float64 // the median of first
	// Baseline is Measure's share for the training images themselves,
	// each held out in turn against the rest: what samples drawn from the
	// data itself would score. It is far from 0 (about 0.3 to 0.5 on the
	// built-in sets), since an image of the data is often its neighbour's
	// nearest, so a share is memorisation only as far as it is above this.
	Baseline float64
}

// NewCopyIndex measures the training images' distances to each other;
// it needs at least three.
func NewCopyIndex(train [][]float32) *CopyIndex {
	x := &CopyIndex{train: train, first: make([]float64, len(train)), second: make([]float64, len(train)), firstAt: make([]int, len(train))}
	for j, row := range distances(train, train) {
		x.first[j], x.second[j], x.firstAt[j] = math.Inf(1), math.Inf(1), -1
		for k, v := range row {
			switch {
			case k == j:
			case v < x.first[j]:
				x.second[j], x.first[j], x.firstAt[j] = x.first[j], v, k
			case v < x.second[j]:
				x.second[j] = v
			}
		}
	}
	sorted := slices.Clone(x.first)
	slices.Sort(sorted)
	x.cap = sorted[len(sorted)/2]
	held := 0
	for i := range train {
		// i's nearest other image j, against j's neighbours other than i.
		j := x.firstAt[i]
		own := x.first[j]
		if x.firstAt[j] == i {
			own = x.second[j]
		}
		if x.first[i] < min(own, x.cap) {
			held++
		}
	}
	x.Baseline = float64(held) / float64(len(train))
	return x
}

// Measure finds each sample's nearest training image and whether the
// sample is within that image's copy radius.
func (x *CopyIndex) Measure(samples [][]float32) NearCopies {
	nc := NearCopies{Nearest: make([]int, len(samples)), Dist: make([]float64, len(samples)), Ratio: make([]float64, len(samples))}
	if len(samples) == 0 {
		return nc
	}
	copies := 0
	for i, row := range distances(samples, x.train) {
		j := 0
		for k, v := range row {
			if v < row[j] {
				j = k
			}
		}
		radius := min(x.first[j], x.cap)
		nc.Nearest[i], nc.Dist[i] = j, row[j]
		nc.Ratio[i] = math.Inf(1)
		if radius > 0 {
			nc.Ratio[i] = row[j] / radius
		}
		if row[j] < radius {
			copies++
		}
	}
	nc.Share = float64(copies) / float64(len(samples))
	return nc
}
