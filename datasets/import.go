package datasets

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/disintegration/imaging"
)

// Skipped is one input that did not become a training image, and why.
type Skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Report says what an import did.
type Report struct {
	Imported int       `json:"imported"`
	Skipped  []Skipped `json:"skipped"`
	// Upsampled counts the images kept at a larger side than their own
	// (smaller than the dataset's side); see NewImporterUpTo.
	Upsampled int `json:"upsampled,omitempty"`
}

// Progress is told after each file: done of total files looked at.
type Progress func(done, total int)

// Importer prepares images one file at a time into a Dataset. It keeps going
// past bad files, recording each with its reason, and stops only for limits
// that protect the machine.
type Importer struct {
	Limits Limits
	ds     *Dataset
	report Report
	total  int64 // bytes read so far
	upTo   *heldImages
}

// heldImages are an up-to import's images until Finish picks their side:
// each prepared at its own shorter side up to most, so that no image is
// enlarged before the side is known, nor a large one resampled twice
// unless the budget makes it.
type heldImages struct {
	most   int       // the largest side held
	pix    [][]uint8 // each image as RGB, side[i]×side[i]
	side   []int
	native []int // each image's shorter side as decoded
	bytes  int64 // of pix, together
}

// NewImporter starts an empty dataset of size×size images.
func NewImporter(name string, size int, lim Limits) *Importer {
	return &Importer{Limits: lim, ds: &Dataset{Name: name, Size: size}}
}

// NewImporterUpTo starts an empty dataset whose side is picked from its
// images at Finish (see keepSide), at most most px. Until then images are
// held at most px, or at half that each time the held pixels pass
// Limits.MaxPreparedBytes (never below 64 px on that account).
func NewImporterUpTo(name string, most int, lim Limits) *Importer {
	im := NewImporter(name, 0, lim)
	im.upTo = &heldImages{most: SideFor(most, most)}
	return im
}

// count is how many images the import holds.
func (im *Importer) count() int {
	if im.upTo != nil {
		return len(im.upTo.pix)
	}
	return im.ds.Len()
}

// Add decodes and prepares one file, within the process's decode budget
// (waiting for it until ctx is done). Errors about the file itself go into
// the report; the returned error means the import as a whole must stop.
func (im *Importer) Add(ctx context.Context, name string, r io.Reader) error {
	if im.count() >= im.Limits.MaxFiles {
		return fmt.Errorf("more than %d images: split the collection", im.Limits.MaxFiles)
	}
	data, err := readAll(r, im.Limits.MaxFileBytes)
	if err != nil {
		im.skip(name, err.Error())
		return nil
	}
	im.total += int64(len(data))
	if im.total > im.Limits.MaxTotalBytes {
		return fmt.Errorf("the files add up to more than the %d MiB limit", im.Limits.MaxTotalBytes>>20)
	}
	size := func(int) int { return im.ds.Size }
	if h := im.upTo; h != nil {
		size = func(native int) int { return max(1, min(native, h.most)) }
	}
	img, native, err := load(ctx, data, im.Limits, size)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		im.skip(name, err.Error())
		return nil
	}
	if h := im.upTo; h != nil {
		side := img.Bounds().Dx()
		h.pix = append(h.pix, appendRGB(make([]uint8, 0, 3*side*side), img))
		h.side = append(h.side, side)
		h.native = append(h.native, native)
		h.bytes += int64(3 * side * side)
		im.ds.Names = append(im.ds.Names, name)
		h.keepWithin(im.Limits.MaxPreparedBytes)
	} else if err := im.ds.append(name, img); err != nil {
		im.skip(name, err.Error())
		return nil
	}
	im.report.Imported++
	return nil
}

// keepWithin halves the largest side held while the images take more than
// budget bytes, down to 64 px: a collection of tens of thousands is kept
// at 64 px as before rather than refused.
func (h *heldImages) keepWithin(budget int64) {
	if budget <= 0 {
		budget = DefaultPreparedBytes
	}
	for h.bytes > budget && h.most > 64 {
		h.most /= 2
		for i, s := range h.side {
			if s > h.most {
				h.pix[i] = resizeRGB(h.pix[i], s, h.most)
				h.bytes -= int64(3*s*s - 3*h.most*h.most)
				h.side[i] = h.most
			}
		}
	}
}

// resizeRGB resamples one RGB image of side from to side to (Lanczos).
func resizeRGB(pix []uint8, from, to int) []uint8 {
	if from == to {
		return pix
	}
	d := &Dataset{Size: from, Pix: pix}
	return appendRGB(make([]uint8, 0, 3*to*to), imaging.Resize(d.RGBA(0), to, to, imaging.Lanczos))
}

// keepSide is the side an import that picks its own keeps: the largest in
// Sides, up to held, that at least nine images in ten cover without
// upsampling. Taking the smallest image's side instead would let one stray
// thumbnail keep a thousand photos at 32 px; taking the largest would
// upsample most of a collection of small images. The few smaller images
// are upsampled, as every small image was when uploads were all kept at
// 64 px.
func keepSide(native []int, held int) int {
	for i := len(Sides) - 1; i >= 0; i-- {
		s := Sides[i]
		if s > held {
			continue
		}
		covered := 0
		for _, n := range native {
			if n >= s {
				covered++
			}
		}
		if 10*covered >= 9*len(native) {
			return s
		}
	}
	return MinRes
}

func (im *Importer) skip(name, reason string) {
	im.report.Skipped = append(im.report.Skipped, Skipped{Name: name, Reason: reason})
}

// Finish returns the dataset and the report; an import with no usable image
// is an error, with the report still filled in.
func (im *Importer) Finish() (*Dataset, Report, error) {
	if im.count() == 0 {
		return nil, im.report, errors.New("no usable images found")
	}
	if h := im.upTo; h != nil {
		side := keepSide(h.native, h.most)
		im.ds.Size, im.ds.Pix = side, make([]uint8, 0, len(h.pix)*3*side*side)
		im.report.Upsampled = 0
		for i := range h.pix {
			im.ds.Pix = append(im.ds.Pix, resizeRGB(h.pix[i], h.side[i], side)...)
			h.pix[i] = nil // held and kept copies together stay near the budget
			if h.native[i] < side {
				im.report.Upsampled++
			}
		}
		im.upTo = nil
	}
	return im.ds, im.report, nil
}

// skipName says whether a file is metadata that no one means as an image.
func skipName(name string) bool {
	base := path.Base(name)
	return strings.HasPrefix(base, ".") || strings.HasPrefix(name, "__MACOSX/") || strings.Contains(name, "/__MACOSX/") ||
		base == "Thumbs.db" || base == "desktop.ini"
}

// ImportDir prepares every file below dir (sorted by path, hidden files
// skipped). Symbolic links are not followed.
func ImportDir(ctx context.Context, dir string, size int, lim Limits, progress Progress) (*Dataset, Report, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." && skipName(filepath.ToSlash(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !skipName(filepath.ToSlash(rel)) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, Report{}, fmt.Errorf("read folder %s: %w", dir, err)
	}
	sort.Strings(files)
	im := NewImporter(filepath.Base(dir), size, lim)
	for i, p := range files {
		if err := ctx.Err(); err != nil {
			return nil, im.report, err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			im.skip(rel, err.Error())
			continue
		}
		err = im.Add(ctx, filepath.ToSlash(rel), f)
		f.Close()
		if err != nil {
			return nil, im.report, err
		}
		if progress != nil {
			progress(i+1, len(files))
		}
	}
	return im.Finish()
}

// CheckZip refuses an archive before anything is extracted: entries that
// would land outside the folder (absolute paths, "..", drive letters),
// more entries than lim allows, or a declared uncompressed size past the
// limit. Reading also counts real bytes, since declared sizes can lie.
func CheckZip(zr *zip.Reader, lim Limits) error {
	var total uint64
	for _, f := range zr.File {
		if err := checkEntryName(f.Name); err != nil {
			return err
		}
		total += f.UncompressedSize64
	}
	if len(zr.File) > 4*lim.MaxFiles {
		return fmt.Errorf("archive has %d entries, more than the limit allows", len(zr.File))
	}
	if total > uint64(lim.MaxTotalBytes) {
		return fmt.Errorf("archive would unpack to %d MiB, more than the %d MiB limit", total>>20, lim.MaxTotalBytes>>20)
	}
	return nil
}

func checkEntryName(name string) error {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) > 1 && n[1] == ':') {
		return fmt.Errorf("archive entry %q has an absolute path: refused", name)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return fmt.Errorf("archive entry %q points outside the archive: refused", name)
		}
	}
	return nil
}

// ImportZip prepares every image inside a zip archive, which is checked
// whole by CheckZip first. Nothing is written to disk.
func ImportZip(ctx context.Context, r io.ReaderAt, size int64, name string, res int, lim Limits, progress Progress) (*Dataset, Report, error) {
	im := NewImporter(strings.TrimSuffix(path.Base(name), path.Ext(name)), res, lim)
	if err := im.AddZip(ctx, r, size, name, progress); err != nil {
		return nil, im.report, err
	}
	return im.Finish()
}

// AddZip adds every image inside a zip archive, checked whole by CheckZip
// first; a broken or hostile archive is an error for the whole import.
func (im *Importer) AddZip(ctx context.Context, r io.ReaderAt, size int64, name string, progress Progress) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("%s is not a readable zip archive: %w", name, err)
	}
	if err := CheckZip(zr, im.Limits); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	files := make([]*zip.File, 0, len(zr.File))
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() && !skipName(f.Name) {
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			im.skip(f.Name, fmt.Sprintf("cannot open entry: %v", err))
			continue
		}
		err = im.Add(ctx, f.Name, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if progress != nil {
			progress(i+1, len(files))
		}
	}
	return nil
}

// Skip records a file the caller left out, with its reason.
func (im *Importer) Skip(name, reason string) { im.skip(name, reason) }

// SkipName says whether a file is metadata (.DS_Store, __MACOSX/…) that no
// one means as an image.
func SkipName(name string) bool { return skipName(name) }

// ImportPath imports a folder or a .zip file.
func ImportPath(ctx context.Context, p string, res int, lim Limits, progress Progress) (*Dataset, Report, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, Report{}, fmt.Errorf("dataset %s: %w", p, err)
	}
	if st.IsDir() {
		return ImportDir(ctx, p, res, lim, progress)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, Report{}, err
	}
	defer f.Close()
	return ImportZip(ctx, f, st.Size(), filepath.Base(p), res, lim, progress)
}
