package nn

import (
	"fmt"
	"math"
	"runtime"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Step is one compiled graph of a GAN training step: its loss, the
// learnables it is differentiated against, and the discriminator's logits
// on the one or two batches it judged, all read out on every Run. Both
// GANs build two, one for D's loss and one for G's: gorgonia cannot take two
// gradients of one graph whose losses share nodes.
type Step struct {
	Loss    gorgonia.Value // the loss of the last Run
	LogitsA gorgonia.Value // D's logits on the first batch of the last Run
	LogitsB gorgonia.Value // on the second batch, if Compile was given one

	vm    gorgonia.VM
	learn []*gorgonia.Node
	grads [][]float32
}

// Compile differentiates loss against learn, reads the loss and the
// logits out (logitsB may be nil) and makes g's tape machine.
func Compile(g *gorgonia.ExprGraph, learn []*gorgonia.Node, loss, logitsA, logitsB *gorgonia.Node) (*Step, error) {
	s := &Step{learn: learn}
	if _, err := gorgonia.Grad(loss, s.learn...); err != nil {
		return nil, err
	}
	gorgonia.Read(loss, &s.Loss)
	gorgonia.Read(logitsA, &s.LogitsA)
	if logitsB != nil {
		gorgonia.Read(logitsB, &s.LogitsB)
	}
	s.vm = gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(s.learn...))
	return s, nil
}

// Run executes the graph and returns the parameter gradients, copied out.
// gorgonia adds each run's gradients into the parameters' dual values and
// never clears them, so Run zeroes them after copying. The slices are the
// step's own, overwritten by the next Run.
func (s *Step) Run() ([][]float32, error) {
	defer s.vm.Reset()
	if err := s.vm.RunAll(); err != nil {
		return nil, err
	}
	if s.grads == nil {
		s.grads = make([][]float32, len(s.learn))
	}
	for i, n := range s.learn {
		gv, err := n.Grad()
		if err != nil {
			return nil, fmt.Errorf("gradient of %s: %w", n.Name(), err)
		}
		d := F32(gv)
		s.grads[i] = append(s.grads[i][:0], d...)
		clear(d)
	}
	return s.grads, nil
}

// Close releases the step's tape machine (see CloseVM).
func (s *Step) Close() { CloseVM(s.vm) }

// CloseVM closes a tape machine and drops its finalizer. gorgonia gives
// each tape machine a finalizer, and a finalizer on an object in a
// reference cycle keeps the whole cycle (every buffer of a trainer) alive
// for good; a process that makes many trainers must close them.
func CloseVM(vm gorgonia.VM) {
	vm.Close()
	runtime.SetFinalizer(vm, nil)
}

// NewTensor makes a zeroed float32 tensor, for the batches and latents
// that are drawn into it before each run of the graphs that read it.
func NewTensor(shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
}

// Input is a node of g that reads v, whatever v holds when the graph runs.
func Input(g *gorgonia.ExprGraph, name string, v *tensor.Dense) *gorgonia.Node {
	return gorgonia.NewTensor(g, tensor.Float32, v.Dims(), gorgonia.WithShape(v.Shape().Clone()...), gorgonia.WithValue(v), gorgonia.WithName(name))
}

// Scalar is a loss value as a float64 (NaN if it is not float32).
func Scalar(v gorgonia.Value) float64 {
	switch x := v.Data().(type) {
	case float32:
		return float64(x)
	case []float32:
		return float64(x[0])
	}
	return math.NaN()
}
