package gan

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan/spec"
)

func shapesImages(t *testing.T, n int, seed uint64) [][]float32 {
	t.Helper()
	ds := datasets.Shapes(n, 32, seed)
	out := make([][]float32, n)
	for i := range out {
		out[i] = ds.Float(i)
	}
	return out
}

func TestDistancesMatchDirectSums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a, b := make([][]float32, 5), make([][]float32, 7)
	for _, set := range [][][]float32{a, b} {
		for i := range set {
			set[i] = make([]float32, 300)
			for j := range set[i] {
				set[i][j] = float32(r.NormFloat64())
			}
		}
	}
	d := distances(a, b)
	for i := range a {
		for j := range b {
			var s float64
			for k := range a[i] {
				x := float64(a[i][k] - b[j][k])
				s += x * x
			}
			if math.Abs(d[i][j]-math.Sqrt(s)) > 1e-3*math.Sqrt(s) {
				t.Fatalf("d[%d][%d] = %g, want %g", i, j, d[i][j], math.Sqrt(s))
			}
		}
	}
}

func TestDiversityOnConstructedSets(t *testing.T) {
	real := shapesImages(t, 300, 1)
	other := shapesImages(t, 300, 2) // the same distribution, other draws
	same := make([][]float32, 300)   // a generator that found one image
	for i := range same {
		same[i] = real[0]
	}
	few := make([][]float32, 300) // ... or three
	for i := range few {
		few[i] = real[i%3]
	}
	thr := DuplicateThreshold(real)
	bins := NewBins(real, 10, 1)
	realMPD := MeanPairwiseDistance(real)
	cases := []struct {
		name         string
		set          [][]float32
		divLo, divHi float64
		dupLo, dupHi float64
		ndbLo, ndbHi float64
	}{
		{"real data, other draws", other, 0.9, 1.1, 0, 0.05, 0, 0.3},
		{"one image", same, 0, 0.01, 1, 1, 0.5, 1},
		{"three images", few, 0, 0.8, 1, 1, 0.5, 1},
	}
	for _, c := range cases {
		div := MeanPairwiseDistance(c.set) / realMPD
		dup := NearDuplicateRate(c.set, thr)
		ndb := bins.NDB(c.set)
		if div < c.divLo || div > c.divHi || dup < c.dupLo || dup > c.dupHi || ndb < c.ndbLo || ndb > c.ndbHi {
			t.Errorf("%s: diversity %.3f (want %g–%g), duplicates %.3f (want %g–%g), NDB %.2f (want %g–%g)",
				c.name, div, c.divLo, c.divHi, dup, c.dupLo, c.dupHi, ndb, c.ndbLo, c.ndbHi)
		}
	}
	if nn := NearestNeighbourDistances(real); thr <= 0 || thr >= minOf(nn) {
		t.Errorf("duplicate threshold %g must be positive and below every real nearest-neighbour distance", thr)
	}
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func TestAssessLevels(t *testing.T) {
	real := shapesImages(t, 300, 1)
	ref := NewReference(real, 0, 1)
	same := make([][]float32, 200)
	for i := range same {
		same[i] = real[7]
	}
	cases := []struct {
		name, level, says string
		set               [][]float32
	}{
		{"real data", spec.Healthy, "", shapesImages(t, 200, 3)},
		{"one image", spec.Collapsed, "more alike than the training images", same},
	}
	for _, c := range cases {
		h := ref.Assess(c.set)
		if h.Level != c.level || !strings.Contains(h.Reason, c.says) {
			t.Errorf("%s: %s (%q), want %s saying %q; %+v", c.name, h.Level, h.Reason, c.level, c.says, h)
		}
	}
}

func TestPrecisionOnConstructedSets(t *testing.T) {
	real := shapesImages(t, 300, 1)
	sup := NewSupport(real, 3)
	blend := make([][]float32, 100) // halfway between two real images: off the data
	noise := make([][]float32, 100)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range blend {
		a, b := real[2*i], real[2*i+1]
		blend[i] = make([]float32, len(a))
		noise[i] = make([]float32, len(a))
		for j := range a {
			blend[i][j] = (a[j] + b[j]) / 2
			noise[i][j] = float32(r.NormFloat64())
		}
	}
	cases := []struct {
		name   string
		set    [][]float32
		lo, hi float64
	}{
		{"the real images themselves", real, 1, 1},
		{"real data, other draws", shapesImages(t, 300, 2), 0.6, 1},
		{"noise", noise, 0, 0.02},
	}
	for _, c := range cases {
		if p := sup.Precision(c.set); p < c.lo || p > c.hi {
			t.Errorf("%s: precision %.3f, want %g–%g", c.name, p, c.lo, c.hi)
		}
	}
	if pb, po := sup.Precision(blend), sup.Precision(shapesImages(t, 300, 2)); pb >= po {
		t.Errorf("blends of two images score %.3f, no lower than real images (%.3f)", pb, po)
	}
}

// TestNearCopies: copies of training images, even slightly disturbed,
// count as near-copies of the image they copy; noise never does, nor does
// a blob nearest a training image alone in its region; images of the same
// kind drawn afresh score about what the data's own held-out images score
// (the baseline), far below copies.
func TestNearCopies(t *testing.T) {
	train := shapesImages(t, 64, 1)
	// A black image, far from every shape on white: its own neighbour
	// distance is huge, and a sample near it but no copy of it must not
	// count.
	black := make([]float32, len(train[0]))
	for i := range black {
		black[i] = -1
	}
	train = append(train, black)
	index := NewCopyIndex(train)
	if index.Baseline <= 0.1 || index.Baseline >= 0.9 {
		t.Fatalf("baseline %.3f: held-out shapes should often, not always, be near-copies", index.Baseline)
	}
	r := rand.New(rand.NewPCG(3, 4))
	jitter := func(x []float32, amp float64) []float32 {
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = v + float32(amp*r.NormFloat64())
		}
		return out
	}
	noise := func(n int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, len(train[0]))
			for j := range out[i] {
				out[i][j] = float32(2*r.Float64() - 1)
			}
		}
		return out
	}
	// A blob: the black image moved by noise of a third of its own
	// neighbour distance, nearer it than any shape.
	blobStep := NewCopyIndex(train).first[len(train)-1] / 3 / math.Sqrt(float64(len(black)))
	blob := [][]float32{jitter(black, blobStep)}
	var copies, disturbed [][]float32
	for i := 0; i < 32; i++ {
		copies = append(copies, train[(i*7)%len(train)])
		disturbed = append(disturbed, jitter(train[(i*7)%len(train)], 0.01))
	}
	for _, c := range []struct {
		name    string
		samples [][]float32
		lo, hi  float64 // the share's range; for "fresh", around the baseline
		copyOf  bool    // sample i copies train[(i*7)%len]
	}{
		{"exact copies", copies, 1, 1, true},
		{"disturbed copies", disturbed, 1, 1, true},
		{"noise", noise(32), 0, 0, false},
		{"blob by a lone image", blob, 0, 0, false},
		{"half copies, half noise", append(copies[:16:16], noise(16)...), 0.5, 0.5, false},
		{"fresh", shapesImages(t, 256, 9), -0.15, 0.15, false},
	} {
		nc := index.Measure(c.samples)
		if c.name == "fresh" {
			c.lo, c.hi = index.Baseline+c.lo, index.Baseline+c.hi
		}
		if nc.Share < c.lo || nc.Share > c.hi {
			t.Errorf("%s: near-copy share %.3f, want [%g, %g]", c.name, nc.Share, c.lo, c.hi)
		}
		if len(nc.Nearest) != len(c.samples) || len(nc.Ratio) != len(c.samples) {
			t.Fatalf("%s: %d nearest, %d ratios for %d samples", c.name, len(nc.Nearest), len(nc.Ratio), len(c.samples))
		}
		for i := range c.samples {
			if c.copyOf && (nc.Nearest[i] != (i*7)%len(train) || nc.Ratio[i] >= 1) {
				t.Errorf("%s: sample %d nearest %d (ratio %.3f), want %d below 1", c.name, i, nc.Nearest[i], nc.Ratio[i], (i*7)%len(train))
			}
		}
	}
}

// The drop rule judges a check against the run's own best: the same
// diversity passes on a fresh run and is collapsed after a far more
// varied check; a warning's reason is kept beside it.
func TestJudgeDrop(t *testing.T) {
	th := DefaultThresholds
	th.CollapseDrop = 0.7
	cases := []struct {
		name      string
		diversity float64
		best      Seen
		level     string
		says      string
	}{
		{"no best yet", 0.6, Seen{}, spec.Healthy, ""},
		{"near its best", 0.6, Seen{Step: 400, Diversity: 0.8}, spec.Healthy, ""},
		{"fallen from its best", 0.6, Seen{Step: 400, Diversity: 1.0}, spec.Collapsed, "40% less varied than at step 400"},
		{"fallen and alike", 0.5, Seen{Step: 300, Diversity: 1.0}, spec.Collapsed, "more alike than the training images"},
		{"rule off", 0.6, Seen{Step: 400, Diversity: 1.0}, spec.Healthy, ""},
	}
	for _, c := range cases {
		th := th
		if c.name == "rule off" {
			th.CollapseDrop = 0
		}
		h := spec.HealthReport{Diversity: c.diversity}
		th.Judge(&h, c.best)
		if h.Level != c.level || !strings.Contains(h.Reason, c.says) {
			t.Errorf("%s: %s (%q), want %s saying %q", c.name, h.Level, h.Reason, c.level, c.says)
		}
	}
}

// The watch's path: the best is the most diverse judged check before a
// step, and a rollback forgets the checks it undoes.
func TestWatchPath(t *testing.T) {
	var w Watch
	for _, s := range []Seen{{200, 0.7}, {250, 0.9}, {300, 0.8}, {350, 0.95}} {
		w.Remember(s.Step, s.Diversity)
	}
	if b := w.Best(400); b != (Seen{350, 0.95}) {
		t.Errorf("best %+v", b)
	}
	if b := w.Best(350); b != (Seen{250, 0.9}) {
		t.Errorf("best before step 350 %+v", b)
	}
	w.Rewind(300)
	if b := w.Best(400); b != (Seen{250, 0.9}) || len(w.Path) != 3 {
		t.Errorf("after rewinding to 300: best %+v, path %+v", b, w.Path)
	}
	w.Rewind(0)
	if b := w.Best(400); b != (Seen{}) {
		t.Errorf("after rewinding to 0: best %+v", b)
	}
}
