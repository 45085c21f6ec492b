package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif"  // first frame of a GIF
	_ "image/jpeg" // JPEG, CMYK included
	_ "image/png"  // PNG, 16-bit and paletted included
	"io"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp" // WebP, lossy and lossless
)

// Limits bound what an import will read, so that a hostile or mistaken
// upload cannot exhaust memory or disk.
type Limits struct {
	MaxFileBytes  int64 // one image file
	MaxTotalBytes int64 // all files together, uncompressed
	MaxFiles      int   // images per import
	MaxPixels     int64 // width × height of one image
	MaxSide       int   // width or height of one image
}

// DefaultLimits suit a designer's collection on one machine.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:  64 << 20,
		MaxTotalBytes: 2 << 30,
		MaxFiles:      50000,
		MaxPixels:     64 << 20, // e.g. 8192×8192
		MaxSide:       16384,
	}
}

// ErrNotImage marks data that is not an image in a format we read.
var ErrNotImage = errors.New("not a PNG, JPEG, GIF or WebP image")

// archives are the signatures of archive formats a designer might put in
// an upload; their contents are not unpacked a second time.
var archives = []struct{ magic, name string }{
	{"PK\x03\x04", "a zip archive"},
	{"\x1f\x8b", "a gzip archive"},
	{"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"},
	{"Rar!\x1a\x07", "a RAR archive"},
}

// notImage says what data is, when it is not an image we read.
func notImage(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty file")
	}
	for _, a := range archives {
		if bytes.HasPrefix(data, []byte(a.magic)) {
			return fmt.Errorf("%s: archives inside a zip or folder are not unpacked; upload it on its own", a.name)
		}
	}
	if len(data) > 262 && string(data[257:262]) == "ustar" {
		return errors.New("a tar archive: archives inside a zip or folder are not unpacked; upload its images or a zip of them")
	}
	return ErrNotImage
}

// Decode reads one image, checking its declared size against lim before
// decoding any pixels, and applies its EXIF orientation.
func Decode(data []byte, lim Limits) (image.Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) || len(data) == 0 {
			return nil, notImage(data)
		}
		return nil, fmt.Errorf("unreadable header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("image has no pixels (%dx%d)", cfg.Width, cfg.Height)
	}
	if cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide || int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return nil, fmt.Errorf("image is %dx%d, larger than the limit of %d pixels a side and %d megapixels",
			cfg.Width, cfg.Height, lim.MaxSide, lim.MaxPixels>>20)
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", format, err)
	}
	return img, nil
}

// Prepare turns any decoded image into a size×size training image:
// transparent parts composited on white, centre-cropped to a square, then
// resized with a Lanczos filter. Grayscale, 16-bit and CMYK images arrive
// here already decoded and are converted through their colour models.
func Prepare(img image.Image, size int) *image.NRGBA {
	b := img.Bounds()
	flat := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(flat, flat.Bounds(), img, b.Min, draw.Over)
	side := min(b.Dx(), b.Dy())
	sq := imaging.CropCenter(flat, side, side)
	if side == size {
		return sq
	}
	return imaging.Resize(sq, size, size, imaging.Lanczos)
}

// readAll reads r up to max bytes, failing past that.
func readAll(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("file is larger than the %d MiB limit", max>>20)
	}
	return data, nil
}
