package nn

import "gorgonia.org/gorgonia"

// The non-saturating GAN loss on D's logits, which the image GAN and the
// 2-D mixture GAN share.

// DiscriminatorLoss is softplus(−D(x)) + softplus(D(G(z))), from D's logits
// on real and on generated samples, each averaged over its batch.
func DiscriminatorLoss(real, fake *gorgonia.Node) (*gorgonia.Node, error) {
	a, err := softplusMean(real, true)
	if err != nil {
		return nil, err
	}
	b, err := softplusMean(fake, false)
	if err != nil {
		return nil, err
	}
	return gorgonia.Add(a, b)
}

// GeneratorLoss is softplus(−D(G(z))) averaged over the batch: G's loss
// that does not saturate while D rejects its samples.
func GeneratorLoss(fake *gorgonia.Node) (*gorgonia.Node, error) {
	return softplusMean(fake, true)
}

// softplusMean is mean(log(1 + exp(sign·x))), the non-saturating GAN loss term.
func softplusMean(x *gorgonia.Node, negate bool) (*gorgonia.Node, error) {
	x, err := Softplus(x, negate)
	if err != nil {
		return nil, err
	}
	return gorgonia.Mean(x)
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
