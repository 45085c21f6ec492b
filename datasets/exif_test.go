package datasets

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// withOrientation inserts an EXIF APP1 segment holding only the orientation
// tag right after a JPEG's start-of-image marker.
func withOrientation(jpg []byte, orientation uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")                        // big-endian TIFF header
	binary.Write(&tiff, binary.BigEndian, uint32(8))      // first IFD offset
	binary.Write(&tiff, binary.BigEndian, uint16(1))      // one entry
	binary.Write(&tiff, binary.BigEndian, uint16(0x0112)) // Orientation
	binary.Write(&tiff, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&tiff, binary.BigEndian, uint32(1))      // count
	binary.Write(&tiff, binary.BigEndian, orientation)
	binary.Write(&tiff, binary.BigEndian, uint16(0)) // padding
	binary.Write(&tiff, binary.BigEndian, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	var seg bytes.Buffer
	seg.Write([]byte{0xFF, 0xE1})
	binary.Write(&seg, binary.BigEndian, uint16(len(payload)+2))
	seg.Write(payload)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg.Bytes()...)
	return append(out, jpg[2:]...)
}

func TestDecodeAppliesEXIFOrientation(t *testing.T) {
	// 32×16: left half red, right half blue.
	img := image.NewNRGBA(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 16 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(withOrientation(b.Bytes(), 6), DefaultLimits()) // 6: rotate 90° clockwise to display
	if err != nil {
		t.Fatal(err)
	}
	if bs := got.Bounds(); bs.Dx() != 16 || bs.Dy() != 32 {
		t.Fatalf("decoded %dx%d, want 16x32 after rotation", bs.Dx(), bs.Dy())
	}
	// After a clockwise turn the red (left) half is on top.
	r, _, bl, _ := got.At(8, 4).RGBA()
	if r < bl {
		t.Errorf("top of the rotated image is not red")
	}
	plain, _ := Decode(b.Bytes(), DefaultLimits())
	if bs := plain.Bounds(); bs.Dx() != 32 {
		t.Fatalf("image without EXIF decoded %dx%d", bs.Dx(), bs.Dy())
	}
}
