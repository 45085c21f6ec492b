package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/store"
)

// TestLoadDatasetStoredBeforeTiles: an upload stored the way every one was
// before datasets were kept at up to 256 px — a row saying 64 px and one PNG
// sheet of 64 px images, 64 to a row, at datasets/<id>/images.png — still
// trains at 32 and 64, and is refused at 128 with its largest side named.
func TestLoadDatasetStoredBeforeTiles(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	src := datasets.Shapes(70, 64, 9)
	d := &store.Dataset{Name: "old upload", Res: 64, Count: src.Len(), Report: store.ImportReport{Files: src.Len()}}
	if err := st.CreateDataset(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	err := st.Blobs.Put(ctx, fmt.Sprintf("datasets/%d/images.png", d.ID), func(w io.Writer) error { return src.WriteSheet(w, 64) })
	if err != nil {
		t.Fatal(err)
	}
	d, err = st.Dataset(ctx, d.ID) // as a run reads it
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxRes() != 64 || fmt.Sprint(d.Resolutions()) != "[32 64]" {
		t.Errorf("old upload: largest side %d, sides %v; want 64, [32 64]", d.MaxRes(), d.Resolutions())
	}
	for _, res := range []int{64, 32} {
		ds, err := LoadDataset(ctx, st, d, res)
		if err != nil {
			t.Fatalf("at %d: %v", res, err)
		}
		if ds.Size != res || !bytes.Equal(ds.Pix, src.Resized(res).Pix) {
			t.Errorf("at %d: %d images of %d px, or other pixels than the sheet's", res, ds.Len(), ds.Size)
		}
	}
	_, err = LoadDataset(ctx, st, d, 128)
	if !errors.Is(err, datasets.ErrTooLarge) || !strings.Contains(err.Error(), "up to 64×64") {
		t.Errorf("at 128: got %v, want a refusal naming 64×64", err)
	}
}

// TestLoadDatasetCachesSmallerSides: a 256 px upload serves every side up
// to 256; a smaller side is resampled once and then read from its cache
// (shown by removing the stored images: the cached side still loads, the
// others cannot).
func TestLoadDatasetCachesSmallerSides(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	src := datasets.Shapes(6, 64, 2).Resized(256) // any 256 px images do
	d := &store.Dataset{Name: "new upload", Res: 256, Count: src.Len()}
	if err := st.CreateDataset(ctx, d, src.WriteTiles); err != nil {
		t.Fatal(err)
	}
	first := map[int][]uint8{}
	for _, res := range []int{256, 128, 64, 32} {
		ds, err := LoadDataset(ctx, st, d, res)
		if err != nil {
			t.Fatalf("at %d: %v", res, err)
		}
		if ds.Size != res || ds.Len() != src.Len() || !bytes.Equal(ds.Pix, src.Resized(res).Pix) {
			t.Errorf("at %d: %d images of %d px, or other pixels than resampling gives", res, ds.Len(), ds.Size)
		}
		first[res] = ds.Pix
	}
	if err := st.Blobs.Delete(ctx, store.DatasetKey(d.ID)); err != nil {
		t.Fatal(err)
	}
	ds, err := LoadDataset(ctx, st, d, 32)
	if err != nil || !bytes.Equal(ds.Pix, first[32]) {
		t.Fatalf("32 px again, with only the cache left: %v (same pixels: %v)", err, err == nil && bytes.Equal(ds.Pix, first[32]))
	}
	if _, err := LoadDataset(ctx, st, d, 256); err == nil {
		t.Error("256 px loaded with the stored images gone: was it cached as well?")
	}
	if _, err := LoadDataset(ctx, st, d, 512); !errors.Is(err, datasets.ErrTooLarge) {
		t.Errorf("512 px: %v, want ErrTooLarge", err)
	}
}

// A cache that cannot be read is made again from the stored images, not a
// failed run.
func TestLoadDatasetRemakesABrokenCache(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	src := datasets.Shapes(4, 64, 5)
	d := &store.Dataset{Name: "upload", Res: 64, Count: src.Len()}
	if err := st.CreateDataset(ctx, d, src.WriteTiles); err != nil {
		t.Fatal(err)
	}
	st.PutDatasetAt(ctx, d, 32, func(w io.Writer) error { _, err := w.Write([]byte("GSTILES1 broken")); return err })
	ds, err := LoadDataset(ctx, st, d, 32)
	if err != nil || !bytes.Equal(ds.Pix, src.Resized(32).Pix) {
		t.Fatalf("with a broken cache: %v", err)
	}
	r, err := st.OpenDatasetAt(ctx, d, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := datasets.ReadStored("cache", r, 32, src.Len(), 32); err != nil {
		t.Errorf("the cache was not made again: %v", err)
	}
}
