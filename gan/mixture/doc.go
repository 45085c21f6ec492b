// Package mixture is the 2-D mode-collapse benchmark of the VEEGAN and PacGAN papers: mixtures with known modes,
// an MLP GAN trained on them with gan/nn's layers, and runs scored by the modes they capture under gan's health checks.
// Start at mixture_run.go (RunModes), then mlp.go.
package mixture
