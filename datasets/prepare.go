package datasets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
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
	// MaxPreparedBytes bounds the prepared pixels an import that picks its
	// own side holds (3 bytes a pixel): past it the side it keeps halves,
	// down to 64 px (what every upload was kept at before, whatever its
	// count). 0 means DefaultPreparedBytes.
	MaxPreparedBytes int64
}

// DefaultPreparedBytes lets an upload keep about 5,400 images at 256 px
// (192 KiB each), 21,800 at 128, and any count MaxFiles allows at 64: the
// most the old fixed 64 px import held was 50,000 × 12 KiB = 600 MB.
const DefaultPreparedBytes = 1 << 30

// DefaultLimits suit a designer's collection on one machine.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:  64 << 20,
		MaxTotalBytes: 2 << 30,
		MaxFiles:      50000,
		MaxPixels:     64 << 20, // e.g. 8192×8192
		MaxSide:       16384,

		MaxPreparedBytes: DefaultPreparedBytes,
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
// decoding any pixels, and applies its EXIF orientation. It takes no part
// of the process's decode budget: imports use Load.
func Decode(data []byte, lim Limits) (image.Image, error) {
	_, format, err := decodeConfig(data, lim)
	if err != nil {
		return nil, err
	}
	return decode(data, format)
}

// Load decodes one image and prepares it as a size×size training image,
// within the process's decode budget: it waits (or fails with ctx) until
// the memory that decoding this image can take is free, so that no mix of
// concurrent imports takes more than the budget. The full-size image never
// leaves this function.
func Load(ctx context.Context, data []byte, lim Limits, size int) (*image.NRGBA, error) {
	img, _, err := load(ctx, data, lim, func(int) int { return size })
	return img, err
}

// load is Load with the side picked from the image's shorter side as
// decoded (its native side, which it also returns: how large a side it
// supports without upsampling).
func load(ctx context.Context, data []byte, lim Limits, size func(native int) int) (*image.NRGBA, int, error) {
	cfg, format, err := decodeConfig(data, lim)
	if err != nil {
		return nil, 0, err
	}
	done, err := decodeBudget.Load().take(ctx, decodeCost(data, cfg, format))
	if err != nil {
		return nil, 0, err
	}
	defer done()
	img, err := decode(data, format)
	if err != nil {
		return nil, 0, err
	}
	b := img.Bounds()
	native := min(b.Dx(), b.Dy())
	return Prepare(img, size(native)), native, nil
}

// decodeConfig reads an image's header and checks its size against lim.
func decodeConfig(data []byte, lim Limits) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) || len(data) == 0 {
			return cfg, "", notImage(data)
		}
		return cfg, "", fmt.Errorf("unreadable header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, "", fmt.Errorf("image has no pixels (%dx%d)", cfg.Width, cfg.Height)
	}
	if cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide || int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return cfg, "", fmt.Errorf("image is %dx%d, larger than the limit of %d pixels a side and %d megapixels",
			cfg.Width, cfg.Height, lim.MaxSide, lim.MaxPixels>>20)
	}
	return cfg, format, nil
}

func decode(data []byte, format string) (image.Image, error) {
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", format, err)
	}
	return img, nil
}

// Prepare turns any decoded image into a size×size training image:
// centre-cropped to a square, resized with a Lanczos filter, then
// transparent parts composited on white. Grayscale, 16-bit and CMYK images
// are read through their colour models row by row: no full-size copy is
// made (an 8192×8192 image would take another 256 MiB for each).
func Prepare(img image.Image, size int) *image.NRGBA {
	b := img.Bounds()
	side := min(b.Dx(), b.Dy())
	sq := image.Rectangle{Min: b.Min.Add(image.Pt((b.Dx()-side)/2, (b.Dy()-side)/2))}
	sq.Max = sq.Min.Add(image.Pt(side, side))
	var out *image.NRGBA
	if sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok && side != size {
		// The resizer weighs colours by their alpha, so compositing after
		// resizing gives what compositing first would.
		out = imaging.Resize(sub.SubImage(sq), size, size, imaging.Lanczos)
	} else {
		out = imaging.Crop(img, sq)
		if side != size {
			out = imaging.Resize(out, size, size, imaging.Lanczos)
		}
	}
	onWhite(out)
	return out
}

// onWhite composites an image on white in place, leaving it opaque.
func onWhite(img *image.NRGBA) {
	for i := 0; i+3 < len(img.Pix); i += 4 {
		a := uint32(img.Pix[i+3])
		if a == 255 {
			continue
		}
		for c := 0; c < 3; c++ {
			img.Pix[i+c] = uint8((uint32(img.Pix[i+c])*a + 255*(255-a) + 127) / 255)
		}
		img.Pix[i+3] = 255
	}
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
