package gan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"

	"github.com/ganstudio/ganstudio/gan/nn"
)

// Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al.,
// "Progressive Growing of GANs", 2018), the quality figure GAN Studio uses
// because it needs no pretrained network. Images are compared at each
// pyramid level down to 16×16 through 7×7 patches; lower is better, and the
// distance between two samples of the real data is the floor.

// SWDOptions set the sample sizes; the zero value takes the defaults.
type SWDOptions struct {
	PatchesPerImage int    // default 32
	Directions      int    // random projections per repeat, default 128
	Repeats         int    // default 4
	Seed            uint64 // patch positions and directions
}

func (o SWDOptions) withDefaults() SWDOptions {
	if o.PatchesPerImage == 0 {
		o.PatchesPerImage = 32
	}
	if o.Directions == 0 {
		o.Directions = 128
	}
	if o.Repeats == 0 {
		o.Repeats = 4
	}
	return o
}

// SWDResult gives the distance per pyramid level (finest first) and their mean, ×1000 as in ProGAN.
type SWDResult struct {
	Levels []float64 `json:"levels"`
	Mean   float64   `json:"mean"`
}

const swdPatch = 7

// SWD compares two equal-sized sets of planar RGB images of side res.
func SWD(a, b [][]float32, res int, opt SWDOptions) (SWDResult, error) {
	opt = opt.withDefaults()
	if len(a) == 0 || len(a) != len(b) {
		return SWDResult{}, fmt.Errorf("swd: need two sets of the same non-zero size, got %d and %d", len(a), len(b))
	}
	pa, pb := pyramids(a, res), pyramids(b, res)
	var out SWDResult
	for lvl := range pa {
		r := rand.New(rand.NewPCG(opt.Seed, uint64(lvl)+1))
		da := descriptors(pa[lvl], opt.PatchesPerImage, r)
		db := descriptors(pb[lvl], opt.PatchesPerImage, r)
		d := slicedWasserstein(da, db, opt.Directions, opt.Repeats, r) * 1e3
		out.Levels = append(out.Levels, d)
		out.Mean += d / float64(len(pa))
	}
	return out, nil
}

// plane is one pyramid level of one image: 3 planes of side n.
type plane struct {
	n   int
	pix []float32
}

var gauss5 = [5]float32{1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16}

// blur is a separable 5×5 Gaussian with mirrored edges.
func blur(p plane) plane {
	n := p.n
	tmp := make([]float32, len(p.pix))
	out := make([]float32, len(p.pix))
	mirror := func(i int) int {
		if i < 0 {
			return -i
		}
		if i >= n {
			return 2*n - 2 - i
		}
		return i
	}
	for c := 0; c < 3; c++ {
		src, t, dst := p.pix[c*n*n:(c+1)*n*n], tmp[c*n*n:(c+1)*n*n], out[c*n*n:(c+1)*n*n]
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				var s float32
				for k := -2; k <= 2; k++ {
					s += gauss5[k+2] * src[y*n+mirror(x+k)]
				}
				t[y*n+x] = s
			}
		}
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				var s float32
				for k := -2; k <= 2; k++ {
					s += gauss5[k+2] * t[mirror(y+k)*n+x]
				}
				dst[y*n+x] = s
			}
		}
	}
	return plane{n, out}
}

func down(p plane) plane {
	b := blur(p)
	h := p.n / 2
	out := make([]float32, 3*h*h)
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < h; x++ {
				out[c*h*h+y*h+x] = b.pix[c*p.n*p.n+2*y*p.n+2*x]
			}
		}
	}
	return plane{h, out}
}

func up(p plane) plane {
	n := 2 * p.n
	z := make([]float32, 3*n*n)
	for c := 0; c < 3; c++ {
		for y := 0; y < p.n; y++ {
			for x := 0; x < p.n; x++ {
				z[c*n*n+2*y*n+2*x] = 4 * p.pix[c*p.n*p.n+y*p.n+x]
			}
		}
	}
	return blur(plane{n, z})
}

// pyramids returns, per level, every image's Laplacian band (the last level
// is the remaining low-pass image, 16×16).
func pyramids(imgs [][]float32, res int) [][]plane {
	var levels [][]plane
	cur := make([]plane, len(imgs))
	for i, im := range imgs {
		cur[i] = plane{res, im}
	}
	for n := res; ; n /= 2 {
		if n <= 16 {
			levels = append(levels, cur)
			return levels
		}
		band := make([]plane, len(cur))
		next := make([]plane, len(cur))
		nn.ParallelFor(len(cur), func(_, i int) {
			next[i] = down(cur[i])
			u := up(next[i])
			d := make([]float32, len(cur[i].pix))
			for j := range d {
				d[j] = cur[i].pix[j] - u.pix[j]
			}
			band[i] = plane{n, d}
		})
		levels = append(levels, band)
		cur = next
	}
}

// descriptors cuts k random 7×7×3 patches from each image and normalises
// each colour channel to zero mean and unit deviation over the whole set.
func descriptors(ps []plane, k int, r *rand.Rand) []float32 {
	const dim = 3 * swdPatch * swdPatch
	out := make([]float32, 0, len(ps)*k*dim)
	for _, p := range ps {
		for j := 0; j < k; j++ {
			y0, x0 := r.IntN(p.n-swdPatch+1), r.IntN(p.n-swdPatch+1)
			for c := 0; c < 3; c++ {
				for y := 0; y < swdPatch; y++ {
					row := p.pix[c*p.n*p.n+(y0+y)*p.n+x0:]
					out = append(out, row[:swdPatch]...)
				}
			}
		}
	}
	per := swdPatch * swdPatch
	for c := 0; c < 3; c++ {
		var s, ss float64
		cnt := 0
		for i := c * per; i < len(out); i += dim {
			for _, v := range out[i : i+per] {
				s += float64(v)
				ss += float64(v) * float64(v)
				cnt++
			}
		}
		mean := s / float64(cnt)
		std := math.Sqrt(math.Max(ss/float64(cnt)-mean*mean, 0)) + 1e-8
		for i := c * per; i < len(out); i += dim {
			for j := range out[i : i+per] {
				out[i+j] = float32((float64(out[i+j]) - mean) / std)
			}
		}
	}
	return out
}

// slicedWasserstein projects both descriptor sets on random unit directions
// and averages the 1-D Wasserstein distances between the sorted projections.
func slicedWasserstein(a, b []float32, dirs, repeats int, r *rand.Rand) float64 {
	const dim = 3 * swdPatch * swdPatch
	n := len(a) / dim
	var total float64
	proj := func(x, d []float32) []float32 {
		out := make([]float32, n*dirs)
		nn.Sgemm(blas.NoTrans, blas.NoTrans, n, dirs, dim, 1, x, dim, d, dirs, 0, out, dirs)
		// Column-major copy so each direction's projections sort as one slice.
		cols := make([]float32, n*dirs)
		for i := 0; i < n; i++ {
			for j := 0; j < dirs; j++ {
				cols[j*n+i] = out[i*dirs+j]
			}
		}
		nn.ParallelFor(dirs, func(_, j int) { slices.Sort(cols[j*n : (j+1)*n]) })
		return cols
	}
	for rep := 0; rep < repeats; rep++ {
		d := make([]float32, dim*dirs)
		for j := 0; j < dirs; j++ {
			var norm float64
			for i := 0; i < dim; i++ {
				v := r.NormFloat64()
				d[i*dirs+j] = float32(v)
				norm += v * v
			}
			norm = math.Sqrt(norm)
			for i := 0; i < dim; i++ {
				d[i*dirs+j] /= float32(norm)
			}
		}
		pa, pb := proj(a, d), proj(b, d)
		var s float64
		for i := range pa {
			s += math.Abs(float64(pa[i] - pb[i]))
		}
		total += s / float64(len(pa))
	}
	return total / float64(repeats)
}
