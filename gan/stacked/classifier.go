package stacked

import (
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan/nn"
)

// Classifier reads a digit from one plane of a stacked image: three 3×3
// convolutions of stride 2 (32, 64 and 128 channels, leaky ReLU) and a
// linear layer to the ten digits' logits, built from the engine's own
// layers. About 5 MFLOP a digit, so the 78,000 planes of an evaluation take
// seconds.
type Classifier struct {
	// Accuracy is the share of MNIST's 10,000 held-out digits it reads
	// right, measured when it was trained.
	Accuracy float64
	// Params are the weights in the order of classifierShapes.
	Params [][]float32

	eval *graph // built on first use, for batches of evalBatch
}

// classifierVersion changes whenever the network or its training does,
// so a cached classifier from before is trained again.
const classifierVersion = 1

var classifierShapes = []struct {
	name  string
	shape []int
}{
	{"conv1.w", []int{32, 1, 3, 3}}, {"conv1.b", []int{32}},
	{"conv2.w", []int{64, 32, 3, 3}}, {"conv2.b", []int{64}},
	{"conv3.w", []int{128, 64, 3, 3}}, {"conv3.b", []int{128}},
	{"lin.w", []int{128 * 4 * 4, 10}}, {"lin.b", []int{10}},
}

// graph is the classifier in one gorgonia graph at a fixed batch size.
type graph struct {
	x      *tensor.Dense // the batch's planes, [n, 1, 32, 32]
	labels []int32       // the batch's digits (training only)
	params []*tensor.Dense
	logits gorgonia.Value
	step   *nn.Step    // training: loss and gradients
	vm     gorgonia.VM // evaluation: logits only
}

func (c *Classifier) build(n int, train bool) (*graph, error) {
	g := gorgonia.NewGraph()
	gr := &graph{x: nn.NewTensor(n, 1, Res, Res), labels: make([]int32, n)}
	var nodes []*gorgonia.Node
	for i, s := range classifierShapes {
		t := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(s.shape...), tensor.WithBacking(c.Params[i]))
		gr.params = append(gr.params, t)
		nodes = append(nodes, nn.Input(g, s.name, t))
	}
	h := nn.Input(g, "x", gr.x)
	var err error
	for l := range 3 {
		if h, err = nn.Conv2d(h, nodes[2*l], 2, 1, nn.Grads{Input: l > 0, Params: train}, nil); err != nil {
			return nil, fmt.Errorf("classifier conv%d: %w", l+1, err)
		}
		if h, err = nn.AddBias(h, nodes[2*l+1], nn.Grads{Input: true, Params: train}, nil); err != nil {
			return nil, err
		}
		if h, err = nn.LeakyReLU(h, 0.1, nil); err != nil {
			return nil, err
		}
	}
	if h, err = gorgonia.Reshape(h, tensor.Shape{n, 128 * 4 * 4}); err != nil {
		return nil, err
	}
	logits, err := nn.Dense(h, nodes[6], nodes[7], nn.Linear, nn.Grads{Input: train, Params: train}, nil)
	if err != nil {
		return nil, err
	}
	if !train {
		gorgonia.Read(logits, &gr.logits)
		gr.vm = gorgonia.NewTapeMachine(g)
		return gr, nil
	}
	loss, err := nn.SoftmaxXent(logits, &gr.labels)
	if err != nil {
		return nil, err
	}
	if gr.step, err = nn.Compile(g, nodes, loss, logits, nil); err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	return gr, nil
}

func (gr *graph) close() {
	if gr.step != nil {
		gr.step.Close()
	}
	if gr.vm != nil {
		nn.CloseVM(gr.vm)
	}
}

// TrainOptions say how long a classifier trains.
type TrainOptions struct {
	Epochs int    // passes over the training digits
	Use    int    // train on the first Use digits only (0: all)
	Seed   uint64 // initial weights and the order of the digits
	// Progress, if set, is told the epoch (from 1), the share of it done
	// and the latest batch's loss, now and then.
	Progress func(epoch int, done, loss float64)
}

// DefaultTrain is how the benchmark's classifier is trained: five passes
// over MNIST's 60,000 training digits, each shifted by up to 2 pixels.
var DefaultTrain = TrainOptions{Epochs: 5, Seed: 1}

const trainBatch = 64

// TrainClassifier trains a classifier on m's training digits with Adam
// (1e-3, lowered tenfold for the last pass) and measures it on the
// held-out ones. Each digit is shifted by up to 2 pixels within its
// 32×32 plane: generated digits are not all centred as MNIST's are.
func TrainClassifier(m *MNIST, o TrainOptions) (*Classifier, error) {
	if o.Epochs < 1 {
		return nil, fmt.Errorf("classifier: at least one epoch, got %d", o.Epochs)
	}
	train := m.Train
	if o.Use > 0 && o.Use < train.Len() {
		train = Digits{Images: train.Images[:o.Use], Labels: train.Labels[:o.Use]}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xc1a5))
	c := &Classifier{}
	for _, s := range classifierShapes {
		fan := 1
		for _, d := range s.shape[1:] {
			fan *= d
		}
		if s.name == "lin.w" {
			fan = s.shape[0]
		}
		p := make([]float32, prod(s.shape))
		if len(s.shape) > 1 { // He initialisation for the leaky rectifiers
			std := math.Sqrt(2 / float64(fan))
			for i := range p {
				p[i] = float32(std * rng.NormFloat64())
			}
		}
		c.Params = append(c.Params, p)
	}
	gr, err := c.build(trainBatch, true)
	if err != nil {
		return nil, err
	}
	defer gr.close()
	adam := nn.NewAdam(1e-3, 0.9, 0.999, gr.params)
	per := Res * Res
	x := nn.F32(gr.x)
	buf := make([]float32, per)
	batches := train.Len() / trainBatch
	for e := 1; e <= o.Epochs; e++ {
		if e == o.Epochs && o.Epochs > 1 {
			adam.LR = 1e-4
		}
		order := rng.Perm(train.Len())
		for b := range batches {
			for k := range trainBatch {
				j := order[b*trainBatch+k]
				Plane(train.Images[j], buf)
				shift(buf, x[k*per:(k+1)*per], rng.IntN(5)-2, rng.IntN(5)-2)
				gr.labels[k] = int32(train.Labels[j])
			}
			grads, err := gr.step.Run()
			if err != nil {
				return nil, fmt.Errorf("classifier, epoch %d: %w", e, err)
			}
			loss := nn.Scalar(gr.step.Loss)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("classifier diverged in epoch %d (loss %g)", e, loss)
			}
			adam.Step(gr.params, grads)
			if o.Progress != nil && (b%100 == 0 || b == batches-1) {
				o.Progress(e, float64(b+1)/float64(batches), loss)
			}
		}
	}
	acc, err := c.Score(m.Test)
	if err != nil {
		return nil, err
	}
	c.Accuracy = acc
	return c, nil
}

// shift copies a plane moved by (dx, dy) pixels, filling with background.
func shift(src, dst []float32, dx, dy int) {
	for y := range Res {
		for x := range Res {
			sx, sy := x-dx, y-dy
			v := float32(-1)
			if sx >= 0 && sx < Res && sy >= 0 && sy < Res {
				v = src[sy*Res+sx]
			}
			dst[y*Res+x] = v
		}
	}
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Score is the share of digits d the classifier reads right.
func (c *Classifier) Score(d Digits) (float64, error) {
	planes := make([][]float32, d.Len())
	for i, img := range d.Images {
		planes[i] = make([]float32, Res*Res)
		Plane(img, planes[i])
	}
	got, err := c.Digits(planes)
	if err != nil {
		return 0, err
	}
	right := 0
	for i, g := range got {
		if g == int(d.Labels[i]) {
			right++
		}
	}
	return float64(right) / float64(d.Len()), nil
}

const evalBatch = 250

// Digits reads one digit from each plane (Res·Res values in [−1, 1]).
func (c *Classifier) Digits(planes [][]float32) ([]int, error) {
	if c.eval == nil {
		gr, err := c.build(evalBatch, false)
		if err != nil {
			return nil, err
		}
		c.eval = gr
	}
	gr, per := c.eval, Res*Res
	x := nn.F32(gr.x)
	out := make([]int, 0, len(planes))
	for lo := 0; lo < len(planes); lo += evalBatch {
		hi := min(lo+evalBatch, len(planes))
		clear(x)
		for k, p := range planes[lo:hi] {
			if len(p) != per {
				return nil, fmt.Errorf("classifier: a plane has %d values, want %d", len(p), per)
			}
			copy(x[k*per:], p)
		}
		err := gr.vm.RunAll()
		gr.vm.Reset()
		if err != nil {
			return nil, fmt.Errorf("classifier: %w", err)
		}
		z := nn.F32(gr.logits)
		for k := range hi - lo {
			best := 0
			for j := 1; j < 10; j++ {
				if z[k*10+j] > z[k*10+best] {
					best = j
				}
			}
			out = append(out, best)
		}
	}
	return out, nil
}

// Triples reads each stacked image's digit triple (0–999, red the
// hundreds). Images are planar RGB at 32×32 in [−1, 1].
func (c *Classifier) Triples(imgs [][]float32) ([]int, error) {
	per := Res * Res
	planes := make([][]float32, 0, 3*len(imgs))
	for i, img := range imgs {
		if len(img) != 3*per {
			return nil, fmt.Errorf("stacked MNIST: image %d has %d values, want %d", i, len(img), 3*per)
		}
		for ch := range 3 {
			planes = append(planes, img[ch*per:(ch+1)*per])
		}
	}
	d, err := c.Digits(planes)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(imgs))
	for i := range out {
		out[i] = 100*d[3*i] + 10*d[3*i+1] + d[3*i+2]
	}
	return out, nil
}

// Close releases the evaluation graph.
func (c *Classifier) Close() {
	if c.eval != nil {
		c.eval.close()
		c.eval = nil
	}
}

// MinAccuracy is what a classifier must reach on the held-out digits for
// its triples to be trusted: the papers' classifiers read about 99%.
const MinAccuracy = 0.99

type classifierFile struct {
	Version  int
	Accuracy float64
	Params   [][]float32
}

// classifierPath is where dir keeps the classifier.
func classifierPath(dir string) string {
	return filepath.Join(dir, fmt.Sprintf("mnist-classifier-v%d.gob", classifierVersion))
}

// CachedClassifier loads the classifier kept in dir, or trains one on m
// (progress as TrainOptions') and keeps it there, so it trains once. A
// classifier under MinAccuracy is an error, and is not kept; a damaged or
// older file is trained again and replaced.
func CachedClassifier(dir string, m *MNIST, progress func(epoch int, done, loss float64)) (c *Classifier, trained bool, err error) {
	c, err = loadClassifier(classifierPath(dir))
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errStale) {
		return nil, false, err
	}
	o := DefaultTrain
	o.Progress = progress
	if c, err = TrainClassifier(m, o); err != nil {
		return nil, false, err
	}
	if c.Accuracy < MinAccuracy {
		return nil, false, fmt.Errorf("the digit classifier reads %.2f%% of held-out digits right, under the %.0f%% the benchmark needs", 100*c.Accuracy, 100*MinAccuracy)
	}
	return c, true, SaveClassifier(dir, c)
}

var errStale = errors.New("a damaged or older classifier file")

func loadClassifier(path string) (*Classifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cf classifierFile
	if err := gob.NewDecoder(f).Decode(&cf); err != nil || cf.Version != classifierVersion || len(cf.Params) != len(classifierShapes) {
		return nil, errStale
	}
	for i, s := range classifierShapes {
		if len(cf.Params[i]) != prod(s.shape) {
			return nil, errStale
		}
	}
	return &Classifier{Accuracy: cf.Accuracy, Params: cf.Params}, nil
}

// SaveClassifier keeps c in dir, where CachedClassifier looks, replacing
// any file there at once (written aside, then renamed).
func SaveClassifier(dir string, c *Classifier) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".classifier-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := gob.NewEncoder(tmp).Encode(classifierFile{Version: classifierVersion, Accuracy: c.Accuracy, Params: c.Params}); err != nil {
		tmp.Close()
		return fmt.Errorf("keeping the classifier: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), classifierPath(dir))
}

// Clone is the same classifier with its own evaluation graph (the weights
// are shared, read only), for another goroutine.
func (c *Classifier) Clone() *Classifier {
	return &Classifier{Accuracy: c.Accuracy, Params: c.Params}
}
