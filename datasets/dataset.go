package datasets

import (
	"fmt"
	"image"
	"image/png"
	"io"

	"github.com/disintegration/imaging"
)

// Dataset is a prepared training set: Len images of Res×Res RGB, 8 bits per
// channel, stored row after row (HWC) back to back.
type Dataset struct {
	Name  string
	Size  int // side in pixels
	Pix   []uint8
	Names []string // where each image came from, for reports
}

// Len is the number of images.
func (d *Dataset) Len() int { return len(d.Pix) / (3 * d.Size * d.Size) }

// Res is the side of each image.
func (d *Dataset) Res() int { return d.Size }

// Image writes image i as planar RGB (CHW) scaled to [-1, 1].
func (d *Dataset) Image(i int, dst []float32) {
	n := d.Size * d.Size
	src := d.Pix[i*3*n : (i+1)*3*n]
	for p := 0; p < n; p++ {
		dst[p] = float32(src[3*p])/127.5 - 1
		dst[n+p] = float32(src[3*p+1])/127.5 - 1
		dst[2*n+p] = float32(src[3*p+2])/127.5 - 1
	}
}

// Float returns image i as Image does, in a new slice.
func (d *Dataset) Float(i int) []float32 {
	out := make([]float32, 3*d.Size*d.Size)
	d.Image(i, out)
	return out
}

// RGBA returns image i as an image.
func (d *Dataset) RGBA(i int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, d.Size, d.Size))
	n := d.Size * d.Size
	src := d.Pix[i*3*n : (i+1)*3*n]
	for p := 0; p < n; p++ {
		copy(img.Pix[4*p:4*p+3], src[3*p:3*p+3])
		img.Pix[4*p+3] = 255
	}
	return img
}

// append adds one prepared image, which must be Size×Size.
func (d *Dataset) append(name string, img *image.NRGBA) error {
	b := img.Bounds()
	if b.Dx() != d.Size || b.Dy() != d.Size {
		return fmt.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), d.Size, d.Size)
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[(y-b.Min.Y)*img.Stride:]
		for x := 0; x < d.Size; x++ {
			d.Pix = append(d.Pix, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
	d.Names = append(d.Names, name)
	return nil
}

// WriteSheet writes every image as one PNG, cols to a row, without gutters:
// the form the built-in datasets are stored in.
func (d *Dataset) WriteSheet(w io.Writer, cols int) error {
	n := d.Len()
	rows := (n + cols - 1) / cols
	sheet := image.NewNRGBA(image.Rect(0, 0, cols*d.Size, rows*d.Size))
	for i := 0; i < n; i++ {
		img := d.RGBA(i)
		ox, oy := (i%cols)*d.Size, (i/cols)*d.Size
		for y := 0; y < d.Size; y++ {
			copy(sheet.Pix[(oy+y)*sheet.Stride+4*ox:], img.Pix[y*img.Stride:(y+1)*img.Stride])
		}
	}
	return png.Encode(w, sheet)
}

// ReadSheet cuts count tiles of size×size out of a sheet written by WriteSheet.
func ReadSheet(name string, r io.Reader, size, count int) (*Dataset, error) {
	img, err := png.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b := img.Bounds()
	cols := b.Dx() / size
	if cols == 0 || (count+cols-1)/cols*size > b.Dy() {
		return nil, fmt.Errorf("%s: a %dx%d sheet cannot hold %d tiles of %d", name, b.Dx(), b.Dy(), count, size)
	}
	d := &Dataset{Name: name, Size: size, Pix: make([]uint8, 0, count*3*size*size)}
	// WriteSheet's PNGs decode as RGBA or NRGBA (opaque either way): read
	// their bytes directly; anything else goes through At, slowly.
	var pix []uint8
	var stride int
	switch m := img.(type) {
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	case *image.NRGBA:
		pix, stride = m.Pix, m.Stride
	}
	for i := 0; i < count; i++ {
		ox, oy := (i%cols)*size, (i/cols)*size
		for y := 0; y < size; y++ {
			if pix != nil {
				row := pix[(oy+y)*stride+4*ox:]
				for x := 0; x < size; x++ {
					d.Pix = append(d.Pix, row[4*x], row[4*x+1], row[4*x+2])
				}
				continue
			}
			for x := 0; x < size; x++ {
				r, g, bl, _ := img.At(b.Min.X+ox+x, b.Min.Y+oy+y).RGBA()
				d.Pix = append(d.Pix, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			}
		}
		d.Names = append(d.Names, fmt.Sprintf("%s#%d", name, i))
	}
	return d, nil
}

// Resized returns the dataset at another side, each image resampled with a
// Lanczos filter (the same filter imports use).
func (d *Dataset) Resized(size int) *Dataset {
	if size == d.Size {
		return d
	}
	out := &Dataset{Name: d.Name, Size: size, Names: d.Names}
	out.Pix = make([]uint8, 0, d.Len()*3*size*size)
	for i := 0; i < d.Len(); i++ {
		img := imaging.Resize(d.RGBA(i), size, size, imaging.Lanczos)
		for p := 0; p < size*size; p++ {
			out.Pix = append(out.Pix, img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2])
		}
	}
	return out
}
