// Package gan is GAN Studio's training engine: DCGAN generator and discriminator
// graphs built with gorgonia, the training loop, checkpoints, sampling and quality metrics.
//
// It knows nothing of HTTP, SQL or templates; callers hand it a data source and a Config.
package gan
