package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"slices"

	"github.com/disintegration/imaging"
)

// MaxRes is the largest side uploads are prepared at. 256 px is the largest
// network the engine builds (spec.Resolutions); anything kept past it would
// only be downsampled again.
const MaxRes = 256

// MinRes is the smallest side a dataset is kept at: the smallest run.
const MinRes = 32

// Sides are the sides a dataset can be kept at and served at, smallest
// first: each stage of the networks doubles the side.
var Sides = []int{32, 64, 128, 256}

// tilesMagic opens a tiles file; a sheet (the form before tiles) opens
// with PNG's own signature, so one reader tells them apart by content.
const tilesMagic = "GSTILES1"

// maxTileBytes bounds one tile's PNG: an opaque RGB PNG of side² pixels
// stays under 3 bytes a pixel plus a row's filter byte and deflate's
// framing, so a longer length means a broken file, not a big image.
func maxTileBytes(side int) int { return 4*side*side + 64<<10 }

// WriteTiles writes the dataset as tiles: a 16-byte header (tilesMagic,
// then side and count as little-endian uint32) and each image as its own
// length-prefixed 8-bit RGB PNG. Uploads are stored this way since they
// are kept at up to 256 px: unlike a sheet (one PNG, decoded whole at 4
// bytes a pixel beside the dataset's 3), tiles are written and read one
// image at a time, and read straight into a smaller side.
func (d *Dataset) WriteTiles(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var head [16]byte
	copy(head[:], tilesMagic)
	binary.LittleEndian.PutUint32(head[8:], uint32(d.Size))
	binary.LittleEndian.PutUint32(head[12:], uint32(d.Len()))
	bw.Write(head[:])
	var buf bytes.Buffer
	for i := 0; i < d.Len(); i++ {
		buf.Reset()
		if err := png.Encode(&buf, d.RGBA(i)); err != nil {
			return fmt.Errorf("tile %d: %w", i, err)
		}
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(buf.Len()))
		bw.Write(n[:])
		bw.Write(buf.Bytes())
	}
	// bufio keeps its first write error: Flush returns it.
	return bw.Flush()
}

// ErrTooLarge marks a request for a side larger than a dataset is kept at.
var ErrTooLarge = errors.New("larger than the dataset is kept at")

// ReadStored reads a dataset as the store keeps it — tiles, or a sheet of
// count tiles (how uploads were kept before tiles, always at 64 px) — at
// side res, which may not exceed the stored side: each image is resampled
// with a Lanczos filter as it is read, so a 32 px load of a 256 px dataset
// never holds the 256 px images (a sheet is decoded whole first).
func ReadStored(name string, r io.Reader, side, count, res int) (*Dataset, error) {
	if res > side {
		return nil, fmt.Errorf("%s is kept at up to %d×%d pixels, not %d×%d (%w; upsampling would only blur it)",
			name, side, side, res, res, ErrTooLarge)
	}
	if res < 1 {
		return nil, fmt.Errorf("%s: no images of side %d", name, res)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	head, err := br.Peek(len(tilesMagic))
	if err != nil {
		return nil, fmt.Errorf("%s: reading its header: %w", name, err)
	}
	switch {
	case string(head) == tilesMagic:
		return readTiles(name, br, side, count, res)
	case bytes.HasPrefix(head, []byte("\x89PNG")):
		d, err := ReadSheet(name, br, side, count)
		if err != nil {
			return nil, err
		}
		return d.Resized(res), nil
	}
	return nil, fmt.Errorf("%s: neither tiles nor a sheet (starts %q)", name, head)
}

func readTiles(name string, r io.Reader, side, count, res int) (*Dataset, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("%s: tiles header: %w", name, err)
	}
	gotSide, gotCount := int(binary.LittleEndian.Uint32(head[8:])), int(binary.LittleEndian.Uint32(head[12:]))
	if gotSide != side || gotCount != count {
		return nil, fmt.Errorf("%s: tiles hold %d images of %d px, the dataset says %d of %d", name, gotCount, gotSide, count, side)
	}
	d := &Dataset{Name: name, Size: res, Pix: make([]uint8, 0, count*3*res*res), Names: make([]string, 0, count)}
	var buf []byte
	for i := 0; i < count; i++ {
		var n [4]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return nil, fmt.Errorf("%s: tile %d of %d: %w", name, i, count, noEOF(err))
		}
		size := int(binary.LittleEndian.Uint32(n[:]))
		if size > maxTileBytes(side) {
			return nil, fmt.Errorf("%s: tile %d claims %d bytes, more than a %d px tile can take", name, i, size, side)
		}
		buf = slices.Grow(buf[:0], size)[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%s: tile %d of %d: %w", name, i, count, noEOF(err))
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			return nil, fmt.Errorf("%s: tile %d: %w", name, i, err)
		}
		if b := img.Bounds(); b.Dx() != side || b.Dy() != side {
			return nil, fmt.Errorf("%s: tile %d is %dx%d, want %dx%d", name, i, b.Dx(), b.Dy(), side, side)
		}
		if res != side {
			img = imaging.Resize(img, res, res, imaging.Lanczos)
		}
		d.Pix = appendRGB(d.Pix, img)
		d.Names = append(d.Names, fmt.Sprintf("%s#%d", name, i))
	}
	return d, nil
}

// noEOF says that a file that ends early was cut short.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendRGB appends an opaque image's pixels as RGB, row after row. Tiles
// decode as RGBA and resized ones are NRGBA: both are read directly (opaque,
// the two are the same bytes); anything else goes through At.
func appendRGB(pix []uint8, img image.Image) []uint8 {
	b := img.Bounds()
	var src []uint8
	var stride int
	switch m := img.(type) {
	case *image.RGBA:
		src, stride = m.Pix, m.Stride
	case *image.NRGBA:
		src, stride = m.Pix, m.Stride
	}
	for y := 0; y < b.Dy(); y++ {
		if src != nil {
			row := src[y*stride:]
			for x := 0; x < b.Dx(); x++ {
				pix = append(pix, row[4*x], row[4*x+1], row[4*x+2])
			}
			continue
		}
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			pix = append(pix, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		}
	}
	return pix
}

// SideFor is the largest side in Sides, up to most, that an image whose
// shorter side is native covers without upsampling; MinRes for anything
// smaller than that.
func SideFor(native, most int) int {
	s := MinRes
	for _, v := range Sides {
		if v <= native && v <= most {
			s = v
		}
	}
	return s
}
