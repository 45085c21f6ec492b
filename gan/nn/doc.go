// Package nn holds the layers GAN Studio's networks are made of: custom gorgonia ops
// (convolution, up-convolution, batch norm, dense, activations) that do their arithmetic with one
// BLAS multiply over flat float32 slices, and the parallel loops and BLAS they share.
// Start at ops.go (what every op shares, and how two graphs pair their layers), then op_conv.go.
package nn
