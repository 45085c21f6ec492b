package datasets

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
)

// zeroPNG16 is a w×h 16-bit RGBA PNG of transparent black: a tiny file
// that decodes to 8 bytes a pixel.
func zeroPNG16(w, h int) []byte { return png16(w, h, true) }

// png16 is zeroPNG16, or its header alone.
func png16(w, h int, pixels bool) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(kind), data...)
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6
	chunk("IHDR", ihdr)
	if !pixels {
		return b.Bytes()
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+8*w)
	for range h {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

func TestDecodeCost(t *testing.T) {
	big := png16(8192, 8192, false) // the header is enough
	cfg, format, err := decodeConfig(big, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if c := decodeCost(big, cfg, format); c < 512<<20 || c > 600<<20 {
		t.Errorf("an 8192×8192 16-bit PNG costs %d MiB, want 512 to 600", c>>20)
	}
	var base, prog bytes.Buffer
	jpeg.Encode(&base, image.NewRGBA(image.Rect(0, 0, 64, 64)), nil)
	if progressiveJPEG(base.Bytes()) {
		t.Error("a baseline JPEG taken for progressive")
	}
	// The same file with its frame marked progressive (SOF2).
	pb := bytes.Replace(base.Bytes(), []byte{0xff, 0xc0}, []byte{0xff, 0xc2}, 1)
	prog.Write(pb)
	if !progressiveJPEG(prog.Bytes()) {
		t.Error("a progressive JPEG not recognised")
	}
	jc := image.Config{ColorModel: color.YCbCrModel, Width: 4000, Height: 3000}
	if b, p := decodeCost(base.Bytes(), jc, "jpeg"), decodeCost(prog.Bytes(), jc, "jpeg"); b < 12e6*7 || p < b+12e6*12 {
		t.Errorf("12 MP JPEG: baseline %d MB, progressive %d MB; want at least 84 and 228", b/1e6, p/1e6)
	}
}

func TestBudgetWaitsItsTurn(t *testing.T) {
	defer SetDecodeMemory(DecodeMemory())
	SetDecodeMemory(100)
	b := decodeBudget.Load()
	ctx := context.Background()
	done, err := b.take(ctx, 1000) // more than the budget: takes all of it
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := b.take(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("took memory while the budget was spent: %v", err)
	}
	// An image waiting for the budget gets it once it is given back.
	img := encodePNG(t, solid(8, 8, color.NRGBA{255, 0, 0, 255}))
	got := make(chan error)
	go func() { _, err := Load(ctx, img, DefaultLimits(), 4); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("decoded while the budget was spent: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	done()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestLoadBoundsMemory decodes four large images at once, as four
// concurrent uploads would, and watches the heap: within the budget it
// holds about one image; without one it held four (with two full-size
// copies each).
func TestLoadBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 512 MiB of pixels")
	}
	defer SetDecodeMemory(DecodeMemory())
	img := zeroPNG16(4096, 4096) // 128 MiB decoded
	SetDecodeMemory(160 << 20)
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			out, err := Load(context.Background(), img, DefaultLimits(), 64)
			if err == nil && out.Bounds().Dx() != 64 {
				err = errors.New("not prepared at 64 px")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	grew := int64(peak-base) >> 20
	t.Logf("heap grew by %d MiB at most (budget 160 MiB, 128 MiB per image)", grew)
	if grew > 400 {
		t.Errorf("the heap grew by %d MiB decoding four 128 MiB images within a 160 MiB budget", grew)
	}
}

// oldPrepare is Prepare as it was, compositing a full-size copy on white
// before cropping and resizing: the reference for what Prepare makes.
func oldPrepare(img image.Image, size int) *image.NRGBA {
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

// TestPrepareWithoutFullSizeCopies: Prepare makes what compositing first
// made (to the bit for opaque images, within a few levels where the
// resizer's clamping meets transparency) without allocating a full-size
// copy of the image.
func TestPrepareWithoutFullSizeCopies(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	noisy := func(w, h int, alpha bool) *image.NRGBA64 {
		img := image.NewNRGBA64(image.Rect(3, 5, 3+w, 5+h)) // bounds not at the origin
		for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
			for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
				a := uint16(0xffff)
				if alpha {
					a = uint16(rnd.IntN(0x10000))
				}
				img.SetNRGBA64(x, y, color.NRGBA64{uint16(rnd.IntN(0x10000)), uint16(x * 600), uint16(y * 900), a})
			}
		}
		return img
	}
	for _, c := range []struct {
		name    string
		img     image.Image
		size    int
		maxDiff int
	}{
		{"opaque, wide", noisy(120, 80, false), 32, 0},
		{"opaque, tall, at size", noisy(64, 90, false), 64, 0},
		// Random alpha on every pixel: 8-bit rounding and the clamps of
		// Lanczos' negative lobes fall differently in the two orders.
		{"transparent noise", noisy(100, 100, true), 32, 8},
		{"gray", image.NewGray(image.Rect(0, 0, 50, 70)), 32, 0},
	} {
		got, want := Prepare(c.img, c.size), oldPrepare(c.img, c.size)
		worst, sum := 0, 0
		for i := range want.Pix {
			d := max(int(got.Pix[i])-int(want.Pix[i]), int(want.Pix[i])-int(got.Pix[i]))
			worst, sum = max(worst, d), sum+d
		}
		if mean := float64(sum) / float64(len(want.Pix)); got.Bounds() != want.Bounds() || worst > c.maxDiff || mean > 0.5 {
			t.Errorf("%s: %v, off by up to %d levels (%.2f on average); want %v within %d (0.5)", c.name, got.Bounds(), worst, mean, want.Bounds(), c.maxDiff)
		}
	}
	big := noisy(2048, 2048, true) // 32 MiB of pixels
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	Prepare(big, 64)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("preparing a 2048×2048 image allocated %d MiB; a full-size copy is 16 MiB", alloc>>20)
	}
}
