package stacked

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func loadMNIST(t *testing.T) *MNIST {
	t.Helper()
	m, err := LoadMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	if m.Train.Len() != 60_000 || m.Test.Len() != 10_000 {
		t.Fatalf("MNIST has %d training and %d test digits, want 60,000 and 10,000", m.Train.Len(), m.Test.Len())
	}
	return m
}

// The benchmark's classifier, trained as the benchmark trains it, reads at
// least 99% of MNIST's held-out digits (which it never trained on) right,
// and reads the triples of stacked held-out digits; kept and loaded back,
// it reads the same.
func TestClassifier(t *testing.T) {
	m := loadMNIST(t)
	c, err := TrainClassifier(m, DefaultTrain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("held-out accuracy %.4f", c.Accuracy)
	if c.Accuracy < MinAccuracy {
		t.Fatalf("held-out accuracy %.4f, want at least %.2f", c.Accuracy, MinAccuracy)
	}
	// Stacked held-out digits: a triple is right when all three planes are.
	test, err := NewDataset(m.Test, 3000, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	imgs := make([][]float32, test.Len())
	for i := range imgs {
		imgs[i] = make([]float32, 3*Res*Res)
		test.Image(i, imgs[i])
	}
	got, err := c.Triples(imgs)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i, g := range got {
		if g == test.Triple(i) {
			right++
		}
	}
	if share := float64(right) / float64(len(got)); share < 0.96 {
		t.Errorf("%.3f of stacked held-out triples read right, want at least 0.96 (0.99³ ≈ 0.97)", share)
	}
	dir := t.TempDir()
	if err := SaveClassifier(dir, c); err != nil {
		t.Fatal(err)
	}
	back, trained, err := CachedClassifier(dir, nil, nil) // nil MNIST: training would fail
	if err != nil || trained {
		t.Fatalf("cached classifier: trained %v, %v", trained, err)
	}
	defer back.Close()
	again, err := back.Triples(imgs)
	if err != nil || !slices.Equal(again, got) || back.Accuracy != c.Accuracy {
		t.Errorf("the kept classifier reads differently (%v)", err)
	}
}

// A quick classifier learns: its loss falls and it reads most held-out
// digits after a few hundred steps on a slice of the training set.
func TestClassifierLearns(t *testing.T) {
	m := loadMNIST(t)
	var first, last float64
	c, err := TrainClassifier(m, TrainOptions{Epochs: 1, Use: 6400, Seed: 2, Progress: func(_ int, done, loss float64) {
		if first == 0 {
			first = loss
		}
		last = loss
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !(last < first/3) || c.Accuracy < 0.85 {
		t.Errorf("loss %.3f → %.3f, held-out accuracy %.3f; want the loss a third or less and at least 0.85", first, last, c.Accuracy)
	}
}

// A damaged cache file is trained again, not trusted; an older version too.
func TestCachedClassifierStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(classifierPath(dir), []byte("not a classifier"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadClassifier(classifierPath(dir)); !errors.Is(err, errStale) {
		t.Errorf("damaged file: %v, want errStale", err)
	}
	if _, err := loadClassifier(filepath.Join(dir, "missing.gob")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestDataset(t *testing.T) {
	t.Parallel()
	// Three constructed digits: a plane full of one grey level each.
	d := Digits{Labels: []uint8{3, 1, 4}}
	for _, v := range []byte{0, 255, 51} {
		img := make([]byte, Side*Side)
		for i := range img {
			img[i] = v
		}
		d.Images = append(d.Images, img)
	}
	ds, err := NewDataset(d, 200, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 200 || ds.Res() != 32 {
		t.Fatalf("dataset %d images at %d", ds.Len(), ds.Res())
	}
	seen := map[int]bool{}
	img := make([]float32, 3*Res*Res)
	for i := range ds.Len() {
		ds.Image(i, img)
		tr := ds.Triple(i)
		seen[tr] = true
		for c, digit := range []int{tr / 100, tr / 10 % 10, tr % 10} {
			plane := img[c*Res*Res : (c+1)*Res*Res]
			want := map[int]float32{3: -1, 1: 1, 4: 51/127.5 - 1}[digit]
			// The border is background; the middle is the digit's grey.
			if plane[0] != -1 || plane[Res+1] != -1 || math.Abs(float64(plane[16*Res+16]-want)) > 1e-6 {
				t.Fatalf("image %d plane %d (digit %d): corner %v, middle %v, want -1 and %v", i, c, digit, plane[0], plane[16*Res+16], want)
			}
		}
	}
	if len(seen) < 20 { // 27 triples possible
		t.Errorf("only %d triples among 200 images", len(seen))
	}
	// A slice: only the first digit.
	one, err := NewDataset(d, 10, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range one.Len() {
		if one.Triple(i) != 333 {
			t.Fatalf("a one-digit slice made triple %d", one.Triple(i))
		}
	}
	if _, err := NewDataset(d, 0, 5, 0); err == nil {
		t.Error("an empty dataset was made")
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	uniform := make([]int, 26_000)
	for i := range uniform {
		uniform[i] = i % 1000
	}
	half := make([]int, 1000)
	for i := range half {
		half[i] = i % 500
	}
	cases := []struct {
		name    string
		triples []int
		modes   int
		kl      float64
	}{
		{"every triple equally often", uniform, 1000, 0},
		{"one triple", []int{7, 7, 7, 7}, 1, math.Log(1000)},
		{"half the triples equally often", half, 500, math.Log(2)},
		{"two triples, 3:1", []int{1, 1, 1, 2}, 2, 0.75*math.Log(750) + 0.25*math.Log(250)},
		{"none", nil, 0, 0},
	}
	for _, c := range cases {
		got := Count(c.triples)
		if got.Modes != c.modes || math.Abs(got.KL-c.kl) > 1e-9 || got.Samples != len(c.triples) {
			t.Errorf("%s: got %+v, want %d modes and KL %.6f", c.name, got, c.modes, c.kl)
		}
	}
}
