package gan

// noiseSource is a deterministic stand-in dataset for tests that need
// images but not learnable ones.
type noiseSource struct{ res int }

func (s noiseSource) Len() int { return 10 }
func (s noiseSource) Res() int { return s.res }
func (s noiseSource) Image(i int, dst []float32) {
	for j := range dst {
		dst[j] = float32((i*7+j)%13)/6.5 - 1
	}
}
