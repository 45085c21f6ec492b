package datasets

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image/color"
	"strings"
	"testing"
)

// TestTilesRoundTrip: tiles read back the very bytes written at their own
// side, and at a smaller side exactly what resampling the whole dataset
// gives; a larger side is refused, naming the largest.
func TestTilesRoundTrip(t *testing.T) {
	d := Shapes(5, 64, 3)
	var b bytes.Buffer
	if err := d.WriteTiles(&b); err != nil {
		t.Fatal(err)
	}
	for _, res := range []int{64, 32} {
		got, err := ReadStored("shapes", bytes.NewReader(b.Bytes()), 64, d.Len(), res)
		if err != nil {
			t.Fatalf("at %d: %v", res, err)
		}
		want := d.Resized(res)
		if got.Size != res || got.Len() != d.Len() || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("at %d: read %d images of %d px, not the %d written (or other pixels)", res, got.Len(), got.Size, d.Len())
		}
	}
	_, err := ReadStored("shapes", bytes.NewReader(b.Bytes()), 64, d.Len(), 128)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "64×64") {
		t.Errorf("128 px from a 64 px dataset: got %v, want ErrTooLarge naming 64×64", err)
	}
}

// TestReadStoredSheet: a sheet, how every upload was kept before tiles
// (64 px, 64 to a row), reads at 64 and 32 as ReadSheet and Resized did.
func TestReadStoredSheet(t *testing.T) {
	d := Shapes(70, 64, 4) // past one row of the sheet
	var b bytes.Buffer
	if err := d.WriteSheet(&b, 64); err != nil {
		t.Fatal(err)
	}
	for _, res := range []int{64, 32} {
		got, err := ReadStored("old", bytes.NewReader(b.Bytes()), 64, d.Len(), res)
		if err != nil {
			t.Fatalf("at %d: %v", res, err)
		}
		if !bytes.Equal(got.Pix, d.Resized(res).Pix) {
			t.Errorf("sheet at %d: pixels differ from the dataset written", res)
		}
	}
}

// TestReadStoredRefusesBrokenTiles: a broken or mismatched file is an
// error that says what is wrong, never a short dataset.
func TestReadStoredRefusesBrokenTiles(t *testing.T) {
	d := Shapes(3, 32, 5)
	var b bytes.Buffer
	if err := d.WriteTiles(&b); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[16:], 1<<30)
	cases := []struct {
		name        string
		data        []byte
		side, count int
		want        string
	}{
		{"cut in the header", good[:10], 32, 3, "header"},
		{"cut in a tile", good[:len(good)-20], 32, 3, "tile 2 of 3"},
		{"more images than it holds", good, 32, 4, "hold 3 images of 32 px"},
		{"another side", good, 64, 3, "hold 3 images of 32 px"},
		{"a tile too long", huge, 32, 3, "claims"},
		{"not a dataset", []byte("GIF89a and more bytes"), 32, 3, "neither tiles nor a sheet"},
	}
	for _, c := range cases {
		_, err := ReadStored("x", bytes.NewReader(c.data), c.side, c.count, 32)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

func TestKeepSide(t *testing.T) {
	many := func(n, side int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = side
		}
		return out
	}
	cases := []struct {
		name   string
		native []int
		held   int
		want   int
	}{
		{"all large", many(10, 1000), 256, 256},
		{"held lower by the budget", many(10, 1000), 128, 128},
		{"exactly 256", many(4, 256), 256, 256},
		{"just under 256", many(4, 255), 256, 128},
		{"one thumbnail in ten", append(many(9, 1000), 40), 256, 256},
		{"two in ten", append(many(8, 1000), 40, 40), 256, 32},
		{"two in ten at 100 px", append(many(8, 1000), 100, 100), 256, 64},
		{"all tiny", many(5, 12), 256, 32},
		{"all 64", many(5, 64), 256, 64},
	}
	for _, c := range cases {
		if got := keepSide(c.native, c.held); got != c.want {
			t.Errorf("%s: kept at %d, want %d", c.name, got, c.want)
		}
	}
}

// TestImporterUpTo: an upload is kept at the largest side its images
// support, up to the most asked, and counts what it had to enlarge.
func TestImporterUpTo(t *testing.T) {
	cases := []struct {
		name      string
		sides     []int // each image's side (square)
		most      int
		want      int
		upsampled int
	}{
		{"large photos", []int{300, 400, 300}, 256, 256, 0},
		{"capped by the most asked", []int{300, 300}, 128, 128, 0},
		{"small sources", []int{100, 120, 90}, 256, 64, 0},
		{"one small in ten", []int{300, 300, 300, 300, 300, 300, 300, 300, 300, 50}, 256, 256, 1},
		{"icons", []int{20, 24}, 256, 32, 2},
	}
	for _, c := range cases {
		im := NewImporterUpTo("up", c.most, DefaultLimits())
		for i, s := range c.sides {
			img := solid(s, s, color.NRGBA{uint8(20 * i), 100, 200, 255})
			if err := im.Add(context.Background(), fmt.Sprintf("%d.png", i), bytes.NewReader(encodePNG(t, img))); err != nil {
				t.Fatal(err)
			}
		}
		ds, rep, err := im.Finish()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ds.Size != c.want || ds.Len() != len(c.sides) || len(ds.Pix) != len(c.sides)*3*c.want*c.want || rep.Upsampled != c.upsampled {
			t.Errorf("%s: %d images at %d px (%d bytes), %d upsampled; want %d at %d, %d upsampled",
				c.name, ds.Len(), ds.Size, len(ds.Pix), rep.Upsampled, len(c.sides), c.want, c.upsampled)
		}
		// The colour survives whatever resampling the side took.
		if p := ds.Pix[len(ds.Pix)-3*ds.Size*ds.Size:]; p[1] < 98 || p[1] > 102 || p[2] < 198 || p[2] > 202 {
			t.Errorf("%s: last image's pixel is %v, want about (_, 100, 200)", c.name, p[:3])
		}
	}
}

// TestImporterUpToBudget: past MaxPreparedBytes the side held halves, so
// an upload's memory stays bounded, but never below 64 px for that.
func TestImporterUpToBudget(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxPreparedBytes = 3 * 256 * 256 * 2 // two images at 256 px
	im := NewImporterUpTo("budget", 256, lim)
	png := encodePNG(t, solid(300, 300, color.NRGBA{10, 20, 30, 255}))
	var held []int
	for i := 0; i < 60; i++ {
		if err := im.Add(context.Background(), fmt.Sprintf("%d.png", i), bytes.NewReader(png)); err != nil {
			t.Fatal(err)
		}
		if h := im.upTo; h.bytes > lim.MaxPreparedBytes && h.most > 64 {
			t.Fatalf("after %d images: holding %d bytes at %d px, past the budget of %d", i+1, h.bytes, h.most, lim.MaxPreparedBytes)
		}
		held = append(held, im.upTo.most)
	}
	if held[0] != 256 || held[2] != 128 || held[8] != 64 || held[59] != 64 {
		t.Errorf("held sides %v: want 256 for the first two, 128 from the third, 64 from the ninth on", held)
	}
	ds, _, err := im.Finish()
	if err != nil || ds.Size != 64 || ds.Len() != 60 {
		t.Fatalf("finished with %v: %d images at %d px, want 60 at 64", err, ds.Len(), ds.Size)
	}
}

func TestBuiltinSides(t *testing.T) {
	cases := []struct {
		name string
		res  int
		ok   bool
		want string // in the error
	}{
		{"shapes", 128, true, ""},
		{"shapes", 256, false, "up to 128×128 pixels (a side of 32, 64 or 128)"},
		{"emoji", 64, true, ""},
		{"emoji", 128, false, "up to 64×64 pixels (a side of 32 or 64)"},
		{"emoji", 48, false, "not 48×48"},
	}
	for _, c := range cases {
		ds, err := Builtin(c.name, c.res)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s at %d: %v", c.name, c.res, err)
		case c.ok && (ds.Size != c.res || len(ds.Pix) != ds.Len()*3*c.res*c.res):
			t.Errorf("%s at %d: %d images of %d px", c.name, c.res, ds.Len(), ds.Size)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s at %d: got %v, want an error saying %q", c.name, c.res, err, c.want)
		}
	}
	for name, want := range map[string]int{"emoji": 64, "shapes": 128} {
		if most, err := BuiltinMaxRes(name); most != want || err != nil {
			t.Errorf("%s: largest side %d (%v), want %d", name, most, err, want)
		}
	}
	if _, err := BuiltinMaxRes("nope"); err == nil {
		t.Error("an unknown built-in dataset has a largest side")
	}
}

// Sources at a side the dataset keeps are kept as they are: importing 64 px
// images up to 256 gives the very pixels a fixed 64 px import gives (no
// enlarging to 256 and shrinking back).
func TestImporterUpToKeepsSmallSourcesAsTheyAre(t *testing.T) {
	src := Shapes(4, 64, 8)
	fixed, upTo := NewImporter("f", 64, DefaultLimits()), NewImporterUpTo("u", 256, DefaultLimits())
	for i := 0; i < src.Len(); i++ {
		p := encodePNG(t, src.RGBA(i))
		for _, im := range []*Importer{fixed, upTo} {
			if err := im.Add(context.Background(), fmt.Sprint(i), bytes.NewReader(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, _, err := fixed.Finish()
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := upTo.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if b.Size != 64 || !bytes.Equal(a.Pix, b.Pix) || !bytes.Equal(b.Pix, src.Pix) {
		t.Errorf("up-to import kept %d px images that differ from the 64 px sources", b.Size)
	}
}
