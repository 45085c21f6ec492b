package spec

// Stats are one step's figures.
type Stats struct {
	Step  int     `json:"step"`
	LossD float64 `json:"loss_d"`
	LossG float64 `json:"loss_g"`
	DReal float64 `json:"d_real"` // mean D(x), as a probability
	DFake float64 `json:"d_fake"` // mean D(G(z)) before D's update
	// AugP is the augmentation strength the step trained with, RT ADA's
	// r_t = E[sign D(x)] over the last interval (both 0 without
	// augmentation; r_t near 1 is a discriminator sure of every real
	// image, the sign of memorising).
	AugP float64 `json:"aug_p"`
	RT   float64 `json:"r_t"`
}

// CPU is the engine's own device: gorgonia graphs with package gan's ops.
// It is in every build; others (CUDA) register themselves from build-tagged
// files, since a binary that links CUDA cannot start without a GPU.
const CPU = "cpu"

// MinRatingsEach is how many likes and how many dislikes a rating model
// needs: with fewer, a model would learn one image's quirks.
const MinRatingsEach = 4
