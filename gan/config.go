package gan

import (
	"math"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// stages is how many ×2 steps lie between 4×4 and the output resolution.
func stages(c spec.Config) int {
	n := 0
	for s := 4; s < c.Res; s *= 2 {
		n++
	}
	return n
}

// ch scales a reference channel count by the width multiplier.
func ch(c spec.Config, base int) int { return chw(c.Width, base) }

// dch scales one of the discriminator's reference channel counts by its
// width multiplier.
func dch(c spec.Config, base int) int { return chw(c.DiscWidth(), base) }

func chw(width float64, base int) int {
	v := int(math.Round(float64(base) * width))
	if v < 1 {
		v = 1
	}
	return v
}

// genChannels are the generator's channels at 4×4, 8×8, … up to Res.
func genChannels(c spec.Config) []int {
	out := []int{ch(c, 256)}
	for i := 1; i <= stages(c); i++ {
		out = append(out, ch(c, 256>>i))
	}
	return out
}

// discChannels are the discriminator's conv widths, from the image down to 4×4.
func discChannels(c spec.Config) []int {
	n := stages(c)
	out := make([]int, n)
	for i := 0; i < n; i++ {
		out[i] = dch(c, 256>>(n-1-i))
	}
	return out
}

// discFeatures is the length of the discriminator's last feature vector,
// its linear layer's input: the 4×4 maps of its last conv, and one more
// map with the batch's spread where the run has it.
func discFeatures(c spec.Config) int {
	ch := discChannels(c)
	n := ch[len(ch)-1]
	if c.MBStd {
		n++
	}
	return n * 16
}
