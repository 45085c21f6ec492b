package spec

// Health levels of a snapshot.
const (
	Healthy   = "healthy"
	Warning   = "warning"
	Collapsed = "collapsed"
)

// HealthReport judges one set of generated images against the real data.
type HealthReport struct {
	Level  string `json:"level"`
	Reason string `json:"reason"` // in words, for people; "" when healthy
	// Diversity is the mean pairwise distance among generated images ÷ the
	// same among real ones: 1 for a generator as varied as the data.
	Diversity float64 `json:"diversity"`
	// Duplicates is the share of generated images with a near-duplicate
	// among the others (closer than any two real images are).
	Duplicates float64 `json:"duplicates"`
	// NDB is the share of k-means cells of the real data that generated
	// images fill in a significantly different proportion.
	NDB float64 `json:"ndb"`
	// Precision is the share of generated images inside the real data's
	// support (3-nearest-neighbour balls). Reported, not judged: early in
	// training every generated image is off the data without any collapse.
	Precision float64 `json:"precision"`
	// DFakeSpread is the standard deviation of the discriminator's logits
	// on the last training batch of fakes: near 0 when they all look alike
	// to it. Reported, not judged.
	DFakeSpread float64 `json:"d_fake_spread"`
	// Memorising says the discriminator is sure of nearly every real image
	// (ADA's r_t high) while quality has fallen from its best: it has
	// learnt the training set by heart. A warning, never a collapse.
	Memorising bool `json:"memorising,omitempty"`
}
