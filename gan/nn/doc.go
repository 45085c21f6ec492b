// Package nn is what GAN Studio's networks are made of and trained with: layers as custom gorgonia ops over
// flat float32 slices and one BLAS (convolution, up-convolution, batch norm, dense), the GAN losses, Adam and Step.
// Start at ops.go (what every op shares, how two graphs pair their layers), then op_conv.go and step.go.
package nn
