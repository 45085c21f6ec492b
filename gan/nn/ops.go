package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The engine's hot layers (convolution, batch norm, activations, upsampling)
// are custom gorgonia ops: gorgonia builds the graphs, differentiates them
// symbolically and runs them on its tape machine, while these ops do the
// arithmetic with a BLAS matrix multiply and loops over flat float32 slices.
// gorgonia's built-in versions work element by element through interfaces and
// cost several times more (see NOTES-gorgonia.md).

var opCounter atomic.Uint64

// sharedHits counts layers whose output was shared, for tests.
var sharedHits atomic.Uint64

// SharedHits is how many layer outputs have been copied from a paired
// twin instead of computed, process-wide; tests read it to see that
// sharing happens, and happens only when it should.
func SharedHits() uint64 { return sharedHits.Load() }

// opBase carries what every custom op shares. Each op instance gets a unique
// id in its hash: gorgonia merges nodes whose op hash and children match, and
// two applications of one layer keep different per-batch state.
type opBase struct {
	name string
	id   uint64
	out  *tensor.Dense

	// Forward-pass sharing between the D step's and the G step's copies of
	// the generator; see Pair and gan's Trainer.TrainStep.
	stamp *uint64 // the trainer's step stamp; odd while sharing is valid
	done  uint64  // the stamp at which this op last computed its output
	twin  *opBase // the same layer in the D step's graph, computed earlier
	owner any     // the op this base belongs to
}

// Recorder collects the forward ops a graph builder creates, in order, so
// two builds of the same network can be paired layer by layer. A nil
// Recorder records nothing.
type Recorder struct {
	// Stamp is the trainer's step stamp, odd while sharing is valid; set
	// it on the recorder of the graph that runs first (see Pair).
	Stamp *uint64
	ops   []*opBase
}

func (r *Recorder) add(o *opBase, owner any) {
	o.owner = owner
	if r != nil {
		o.stamp = r.Stamp
		r.ops = append(r.ops, o)
	}
}

// Pair makes each op of b reuse the output of the matching op of a. It is
// for the D step's and the G step's copies of one generator: same weights,
// same latents, so b need not compute again what a computed moments before
// in the same step. Sharing holds only while *a.Stamp is odd.
func Pair(a, b *Recorder) error {
	if len(a.ops) != len(b.ops) {
		return fmt.Errorf("generator graphs differ: %d and %d layers", len(a.ops), len(b.ops))
	}
	for i := range a.ops {
		if a.ops[i].name != b.ops[i].name {
			return fmt.Errorf("generator graphs differ at layer %d: %s and %s", i, a.ops[i].name, b.ops[i].name)
		}
		b.ops[i].twin = a.ops[i]
	}
	return nil
}

// shared returns the twin's output copied into this op's own buffer when the
// twin computed it during the current step: same weights, same latents, so
// the same values.
func (o *opBase) shared(shape tensor.Shape) (*tensor.Dense, bool) {
	t := o.twin
	if t == nil || t.stamp == nil || *t.stamp%2 == 0 || t.done != *t.stamp || t.out == nil || !t.out.Shape().Eq(shape) {
		return nil, false
	}
	out := o.output(shape)
	copy(F32(out), F32(t.out))
	sharedHits.Add(1)
	return out, true
}

// computed marks the output as fresh for the current step.
func (o *opBase) computed() {
	if o.stamp != nil && *o.stamp%2 == 1 {
		o.done = *o.stamp
	}
}

// Grads says which gradients a layer's graph wants. Those not wanted are
// never built, so they cost nothing at run time: none for the network a
// step holds fixed, none for an input that is data or latents.
type Grads struct {
	Input  bool // with respect to the layer's input
	Params bool // with respect to its weights: filter, bias, γ and β
}

func newOpBase(name string) opBase { return opBase{name: name, id: opCounter.Add(1)} }

func (o *opBase) ReturnsPtr() bool      { return false }
func (o *opBase) CallsExtern() bool     { return false }
func (o *opBase) OverwritesInput() int  { return -1 }
func (o *opBase) String() string        { return fmt.Sprintf("%s#%d", o.name, o.id) }
func (o *opBase) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.name, o.id) }
func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// fnType builds the type of an op taking tensors of the given ranks and
// returning one of rank out.
func fnType(out int, in ...int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, gorgonia.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, gorgonia.TensorType{Dims: out, Of: a})
	return hm.NewFnType(ts...)
}

// F32 returns the float32 data behind a value, which must be a
// float32 *tensor.Dense: every tensor of the engine is one.
func F32(v gorgonia.Value) []float32 {
	return v.(*tensor.Dense).Data().([]float32)
}

// shapeOf returns the shape of a value.
func shapeOf(v gorgonia.Value) tensor.Shape { return v.Shape() }

// output returns the op's own output tensor, allocated on first use and
// reused every run after. Each op instance is one node run once per pass, so
// the buffer is free again by the next pass; keeping it saves the allocation,
// the garbage collection and the page faults of fresh memory every step.
func (o *opBase) output(shape tensor.Shape) *tensor.Dense {
	if o.out == nil || !o.out.Shape().Eq(shape) {
		o.out = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape.Clone()...))
	}
	return o.out
}

func inferFirst(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, ok := inputs[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("expected a shape, got %T", inputs[0])
	}
	return s.Clone(), nil
}
