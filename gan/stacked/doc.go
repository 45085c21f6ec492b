// Package stacked is Stacked MNIST, the image benchmark of mode collapse
// with 1,000 known modes (VEEGAN's, as PacGAN reproduced it): each image is
// three MNIST digits stacked as its red, green and blue planes, so a
// generator's images fall into 1,000 digit triples. A digit classifier
// trained here with the engine's own layers reads the triples back; the
// modes of a sample are the distinct triples found, and its KL divergence
// to the uniform triple distribution says how evenly it covers them.
//
// Start at dataset.go (the images), then classifier.go and count.go.
package stacked
