package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
)

// Softmax cross-entropy: the loss is the textbook mean of −log p(label),
// and its gradient matches central differences.
func TestSoftmaxXent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	logits := scaled(randDense(r, 4, 5), 3)
	labels := []int32{0, 4, 2, 2}
	loss := func() (float64, [][]float32) {
		g := gorgonia.NewGraph()
		x := Input(g, "logits", logits)
		l, err := SoftmaxXent(x, &labels)
		if err != nil {
			t.Fatal(err)
		}
		return runGrads(t, "xent", g, l, []*gorgonia.Node{x})
	}
	got, grads := loss()
	z := F32(logits)
	var want float64
	for i, y := range labels {
		var sum float64
		for j := range 5 {
			sum += math.Exp(float64(z[i*5+j]))
		}
		want -= math.Log(math.Exp(float64(z[i*5+int(y)])) / sum)
	}
	want /= 4
	if math.Abs(got-want) > 1e-5 {
		t.Errorf("loss %.6f, want %.6f", got, want)
	}
	const eps = 1e-2
	for j := range z {
		old := z[j]
		z[j] = old + eps
		lp, _ := loss()
		z[j] = old - eps
		lm, _ := loss()
		z[j] = old
		if num := (lp - lm) / (2 * eps); math.Abs(num-float64(grads[0][j])) > 1e-3 {
			t.Errorf("d/d logit %d: backprop %.5f, numeric %.5f", j, grads[0][j], num)
		}
	}
	bad := []int32{0, 5, 1, 1}
	g := gorgonia.NewGraph()
	l, err := SoftmaxXent(Input(g, "logits", logits), &bad)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err == nil {
		t.Errorf("a label outside [0, 5) was taken (loss %v)", l.Value())
	}
}
