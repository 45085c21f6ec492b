// Package gan is GAN Studio's training engine: DCGAN generator and discriminator
// graphs built with gorgonia from gan/nn's layers, the training loop, checkpoints, sampling and quality metrics,
// mode-collapse health checks, and feedback: designers' ratings as a training signal
// (feedback.go, rating.go) and as a bias on sampling (bias.go).
//
// It knows nothing of HTTP, SQL or templates; callers hand it a data source and a Config.
package gan
