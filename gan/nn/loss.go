package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// The GAN losses on D's logits, which the image GAN and the 2-D mixture
// GAN share, named by spec.LossNS (the default) and spec.LossHinge:
//
//	ns:    D: softplus(−D(x)) + softplus(D(G(z)))   G: softplus(−D(G(z)))
//	hinge: D: relu(1 − D(x)) + relu(1 + D(G(z)))     G: −D(G(z))

// DiscriminatorLoss is softplus(−D(x)) + softplus(D(G(z))), from D's logits
// on real and on generated samples, each averaged over its batch.
func DiscriminatorLoss(real, fake *gorgonia.Node) (*gorgonia.Node, error) {
	return DiscriminatorLossOf(spec.LossNS, real, fake)
}

// DiscriminatorLossOf is D's loss of the named kind (spec.LossNS or
// spec.LossHinge; empty is LossNS), each term averaged over its batch.
func DiscriminatorLossOf(kind string, real, fake *gorgonia.Node) (*gorgonia.Node, error) {
	a, err := DTerm(kind, real, true)
	if err != nil {
		return nil, err
	}
	if a, err = gorgonia.Mean(a); err != nil {
		return nil, err
	}
	b, err := DTerm(kind, fake, false)
	if err != nil {
		return nil, err
	}
	if b, err = gorgonia.Mean(b); err != nil {
		return nil, err
	}
	return gorgonia.Add(a, b)
}

// GeneratorLoss is softplus(−D(G(z))) averaged over the batch: G's loss
// that does not saturate while D rejects its samples.
func GeneratorLoss(fake *gorgonia.Node) (*gorgonia.Node, error) {
	return GeneratorLossOf(spec.LossNS, fake)
}

// GeneratorLossOf is G's loss of the named kind, averaged over the batch:
// softplus(−D(G(z))) or, for the hinge, −D(G(z)).
func GeneratorLossOf(kind string, fake *gorgonia.Node) (*gorgonia.Node, error) {
	switch kind {
	case "", spec.LossNS:
		x, err := Softplus(fake, true)
		if err != nil {
			return nil, err
		}
		return gorgonia.Mean(x)
	case spec.LossHinge:
		m, err := gorgonia.Mean(fake)
		if err != nil {
			return nil, err
		}
		return gorgonia.Neg(m)
	}
	return nil, fmt.Errorf("unknown loss %q", kind)
}

// DTerm is D's loss on each of a batch's logits, element by element, for
// images that are real (pushed up) or generated (pushed down):
// softplus(∓x) for the non-saturating loss, relu(1 ∓ x) for the hinge.
func DTerm(kind string, x *gorgonia.Node, real bool) (*gorgonia.Node, error) {
	switch kind {
	case "", spec.LossNS:
		return Softplus(x, real)
	case spec.LossHinge:
		var err error
		if real {
			if x, err = gorgonia.Neg(x); err != nil {
				return nil, err
			}
		}
		if x, err = gorgonia.Add(x, gorgonia.NewConstant(float32(1))); err != nil {
			return nil, err
		}
		return LeakyReLU(x, 0, nil)
	}
	return nil, fmt.Errorf("unknown loss %q", kind)
}

// Softplus is log(1 + exp(x)), element by element, or log(1 + exp(−x))
// when negate is set (a term that pushes x up rather than down).
func Softplus(x *gorgonia.Node, negate bool) (*gorgonia.Node, error) {
	var err error
	if negate {
		if x, err = gorgonia.Neg(x); err != nil {
			return nil, err
		}
	}
	return gorgonia.Softplus(x)
}
