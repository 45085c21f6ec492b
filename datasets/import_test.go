package datasets

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func solid(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	return img
}

// hugePNG is a valid PNG header declaring a w×h image, with no pixel data:
// the importer must refuse it from the header alone.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestImportDirGoodAndBad(t *testing.T) {
	dir := t.TempDir()
	good := encodePNG(t, solid(40, 20, color.NRGBA{255, 0, 0, 255}))
	var jp bytes.Buffer
	if err := jpeg.Encode(&jp, solid(30, 30, color.NRGBA{0, 0, 255, 255}), nil); err != nil {
		t.Fatal(err)
	}
	var gf bytes.Buffer
	pal := image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{color.Black, color.White})
	if err := gif.Encode(&gf, pal, nil); err != nil {
		t.Fatal(err)
	}
	gray16 := image.NewGray16(image.Rect(0, 0, 8, 8))
	cmyk := image.NewCMYK(image.Rect(0, 0, 8, 8))
	for i := range cmyk.Pix {
		cmyk.Pix[i] = 100
	}
	var cm bytes.Buffer
	if err := jpeg.Encode(&cm, cmyk, nil); err != nil {
		t.Fatal(err)
	}
	transparent := encodePNG(t, solid(8, 8, color.NRGBA{0, 0, 0, 0}))
	files := map[string][]byte{
		"a/red.png":          good,
		"blue.jpg":           jp.Bytes(),
		"bw.gif":             gf.Bytes(),
		"gray16.png":         encodePNG(t, gray16),
		"cmyk.jpg":           cm.Bytes(),
		"clear.png":          transparent,
		"corrupt.png":        good[:len(good)/2],
		"notes.png":          []byte("this is a text file, not a picture\n"),
		"huge.png":           hugePNG(40000, 40000),
		".hidden/secret.png": good,
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var calls int
	ds, rep, err := ImportDir(context.Background(), dir, 32, DefaultLimits(), func(done, total int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 6 || rep.Imported != 6 || ds.Res() != 32 {
		t.Fatalf("imported %d (report %d), want 6: %+v", ds.Len(), rep.Imported, rep)
	}
	if calls != 9 {
		t.Errorf("progress called %d times, want 9", calls)
	}
	reasons := map[string]string{}
	for _, s := range rep.Skipped {
		reasons[s.Name] = s.Reason
	}
	for name, want := range map[string]string{"corrupt.png": "corrupt", "notes.png": "not a PNG", "huge.png": "40000x40000"} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("%s: reason %q, want it to mention %q", name, reasons[name], want)
		}
	}
	// The transparent image is composited on white; the red one stays red.
	idx := map[string]int{}
	for i, n := range ds.Names {
		idx[n] = i
	}
	px := func(name string) [3]uint8 {
		i := idx[name] * 3 * 32 * 32
		p := ds.Pix[i+3*(16*32+16):]
		return [3]uint8{p[0], p[1], p[2]}
	}
	if got := px("clear.png"); got != [3]uint8{255, 255, 255} {
		t.Errorf("transparent image became %v, want white", got)
	}
	if got := px("a/red.png"); got[0] < 250 || got[1] > 5 || got[2] > 5 {
		t.Errorf("red image became %v", got)
	}
}

func writeZip(t *testing.T, entries map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImportZip(t *testing.T) {
	good := encodePNG(t, solid(64, 64, color.NRGBA{0, 200, 0, 255}))
	cases := []struct {
		name    string
		entries map[string][]byte
		lim     func(*Limits)
		wantN   int
		wantErr string
	}{
		{"good", map[string][]byte{"x/1.png": good, "x/2.png": good, "__MACOSX/x/._1.png": []byte("junk")}, nil, 2, ""},
		{"escaping entry", map[string][]byte{"ok.png": good, "../../etc/evil.png": good}, nil, 0, "outside the archive"},
		{"absolute entry", map[string][]byte{"/etc/evil.png": good}, nil, 0, "absolute path"},
		{"too big unpacked", map[string][]byte{"a.png": good, "b.png": good}, func(l *Limits) { l.MaxTotalBytes = int64(len(good)) }, 0, "unpack to"},
		{"only junk", map[string][]byte{"readme.txt": []byte("hello")}, nil, 0, "no usable images"},
		{"oversized image", map[string][]byte{"huge.png": hugePNG(40000, 40000), "ok.png": good}, nil, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := writeZip(t, c.entries)
			lim := DefaultLimits()
			if c.lim != nil {
				c.lim(&lim)
			}
			ds, _, err := ImportZip(context.Background(), bytes.NewReader(data), int64(len(data)), "set.zip", 32, lim, nil)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != c.wantN {
				t.Fatalf("imported %d, want %d", ds.Len(), c.wantN)
			}
		})
	}
}

func TestImportZipNotAZip(t *testing.T) {
	data := []byte("PK\x03\x04 but not really")
	if _, _, err := ImportZip(context.Background(), bytes.NewReader(data), int64(len(data)), "bad.zip", 32, DefaultLimits(), nil); err == nil ||
		!strings.Contains(err.Error(), "not a readable zip") {
		t.Fatalf("got %v", err)
	}
}

// A zip entry whose data inflates past the per-file limit is skipped, even
// when its header understates the size.
func TestImportZipBombEntry(t *testing.T) {
	big := bytes.Repeat([]byte{0}, 4<<20)
	data := writeZip(t, map[string][]byte{"bomb.png": big, "ok.png": encodePNG(t, solid(8, 8, color.White))})
	lim := DefaultLimits()
	lim.MaxFileBytes = 1 << 20
	ds, rep, err := ImportZip(context.Background(), bytes.NewReader(data), int64(len(data)), "b.zip", 32, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 1 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Reason, "larger than") {
		t.Fatalf("got %d images, report %+v", ds.Len(), rep)
	}
}

func TestBuiltin(t *testing.T) {
	for _, res := range []int{32, 64} {
		for _, name := range BuiltinNames {
			ds, err := Builtin(name, res)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() < 100 || ds.Res() != res {
				t.Fatalf("%s at %d: %d images of %d", name, res, ds.Len(), ds.Res())
			}
			// Images must not be blank: corners are white, centres are not.
			img := ds.Float(0)
			n := res * res
			centre := res/2*res + res/2
			if img[0] < 0.9 || (img[centre] > 0.9 && img[n+centre] > 0.9 && img[2*n+centre] > 0.9) {
				t.Errorf("%s at %d: image 0 looks blank or has no white border", name, res)
			}
		}
	}
	if _, err := Builtin("nope", 32); err == nil {
		t.Error("unknown dataset accepted")
	}
	if _, err := Builtin("emoji", 48); err == nil {
		t.Error("resolution 48 accepted")
	}
}

// TestNotImageReasons: what a file that is no image is called, so a person
// knows what to do about it.
func TestNotImageReasons(t *testing.T) {
	tar := make([]byte, 1024)
	copy(tar[257:], "ustar")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"zip", []byte("PK\x03\x04rest of a zip"), "a zip archive: archives inside a zip or folder are not unpacked"},
		{"gzip", []byte("\x1f\x8b\x08\x00...."), "a gzip archive"},
		{"tar", tar, "a tar archive"},
		{"text", []byte("hello"), "not a PNG, JPEG, GIF or WebP image"},
	} {
		_, err := Decode(c.data, DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
