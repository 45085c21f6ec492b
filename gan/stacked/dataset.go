package stacked

import (
	"fmt"
	"math/rand/v2"
)

// Images is the papers' training set size: 128,000 stacked images.
const Images = 128_000

// Dataset is Stacked MNIST: image i is three training digits, drawn at
// random but fixed by the seed, as its red, green and blue planes. It is
// a gan.Source, made on the fly (128,000 images of 3·32·32 floats would be
// 1.5 GB; three digit indices each are 1.5 MB).
type Dataset struct {
	digits Digits
	picks  [][3]int32 // per image, the training digits of its planes
}

// NewDataset stacks n images from the digits (the training set of MNIST),
// picked with seed from the first use digits (0: all of them).
func NewDataset(d Digits, n int, seed uint64, use int) (*Dataset, error) {
	if use <= 0 || use > d.Len() {
		use = d.Len()
	}
	if n < 1 {
		return nil, fmt.Errorf("stacked MNIST: need at least one image, got %d", n)
	}
	if use < 1 {
		return nil, fmt.Errorf("stacked MNIST: no digits to stack")
	}
	rng := rand.New(rand.NewPCG(seed, 0x57ac))
	ds := &Dataset{digits: d, picks: make([][3]int32, n)}
	for i := range ds.picks {
		for c := range 3 {
			ds.picks[i][c] = int32(rng.IntN(use))
		}
	}
	return ds, nil
}

// Len is the number of stacked images.
func (ds *Dataset) Len() int { return len(ds.picks) }

// Res is the images' side, 32.
func (ds *Dataset) Res() int { return Res }

// Image writes image i as planar RGB in [−1, 1]: one digit per plane.
func (ds *Dataset) Image(i int, dst []float32) {
	for c, j := range ds.picks[i] {
		Plane(ds.digits.Images[j], dst[c*Res*Res:(c+1)*Res*Res])
	}
}

// Triple is image i's mode: its red, green and blue digits as one number
// from 0 to 999 (red the hundreds).
func (ds *Dataset) Triple(i int) int {
	p := ds.picks[i]
	return 100*int(ds.digits.Labels[p[0]]) + 10*int(ds.digits.Labels[p[1]]) + int(ds.digits.Labels[p[2]])
}
