package gan

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Interpolate returns steps latents spherically interpolated from a to b.
func Interpolate(a, b []float32, steps int) []float32 {
	out := make([]float32, 0, steps*len(a))
	var na, nb, dot float64
	for i := range a {
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
		dot += float64(a[i]) * float64(b[i])
	}
	omega := math.Acos(math.Max(-1, math.Min(1, dot/math.Sqrt(na*nb))))
	for s := 0; s < steps; s++ {
		u := 0.0
		if steps > 1 {
			u = float64(s) / float64(steps-1)
		}
		wa, wb := 1-u, u
		if so := math.Sin(omega); so > 1e-6 {
			wa, wb = math.Sin((1-u)*omega)/so, math.Sin(u*omega)/so
		}
		for i := range a {
			out = append(out, float32(wa*float64(a[i])+wb*float64(b[i])))
		}
	}
	return out
}

// ToImage converts one planar RGB image in [-1, 1] to an 8-bit image.
func ToImage(chw []float32, res int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, res, res))
	plane := res * res
	for y := 0; y < res; y++ {
		for x := 0; x < res; x++ {
			i := y*res + x
			img.SetNRGBA(x, y, color.NRGBA{to8(chw[i]), to8(chw[plane+i]), to8(chw[2*plane+i]), 255})
		}
	}
	return img
}

func to8(v float32) uint8 {
	f := (float64(v) + 1) * 127.5
	return uint8(math.Max(0, math.Min(255, math.Round(f))))
}

// Grid lays images out cols to a row with a 2-pixel white gutter.
func Grid(imgs [][]float32, res, cols int) *image.NRGBA {
	if cols < 1 {
		cols = 1
	}
	rows := (len(imgs) + cols - 1) / cols
	const gap = 2
	out := image.NewNRGBA(image.Rect(0, 0, cols*(res+gap)+gap, rows*(res+gap)+gap))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	for k, chw := range imgs {
		ox, oy := gap+(k%cols)*(res+gap), gap+(k/cols)*(res+gap)
		im := ToImage(chw, res)
		for y := 0; y < res; y++ {
			copy(out.Pix[(oy+y)*out.Stride+ox*4:], im.Pix[y*im.Stride:(y+1)*im.Stride])
		}
	}
	return out
}

// FromImage is ToImage's inverse: a res×res image as planar RGB in [-1, 1].
func FromImage(img image.Image, res int) ([]float32, error) {
	b := img.Bounds()
	if b.Dx() != res || b.Dy() != res {
		return nil, fmt.Errorf("image is %d×%d, want %d×%d", b.Dx(), b.Dy(), res, res)
	}
	out := make([]float32, 3*res*res)
	plane := res * res
	for y := 0; y < res; y++ {
		for x := 0; x < res; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			i := y*res + x
			out[i], out[plane+i], out[2*plane+i] = float32(c.R)/127.5-1, float32(c.G)/127.5-1, float32(c.B)/127.5-1
		}
	}
	return out, nil
}
