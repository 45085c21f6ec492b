package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ganstudio/ganstudio/internal/atomicfile"
)

// Blobs holds the studio's large objects by key. Keys are made by this
// package's *Key functions from numeric ids only, never from user input.
// A folder (DirBlobs) and an S3-compatible bucket (S3Blobs) implement it.
type Blobs interface {
	// Put stores what fill writes under key, atomically: readers see the
	// old object or the new one, never a part.
	Put(ctx context.Context, key string, fill func(io.Writer) error) error
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes key and, if key ends in "/", everything under it.
	Delete(ctx context.Context, key string) error
	// List returns the keys under prefix ("" for all) in key order.
	List(ctx context.Context, prefix string) ([]BlobInfo, error)
}

// BlobInfo is one stored object.
type BlobInfo struct {
	Key  string
	Size int64
}

// Keys of the objects the studio keeps.
func DatasetKey(id int64) string         { return fmt.Sprintf("datasets/%d/images.tiles", id) }
func RunKey(id int64) string             { return fmt.Sprintf("runs/%d/", id) }
func GridKey(run int64, step int) string { return fmt.Sprintf("runs/%d/grids/%06d.png", run, step) }
func SampleKey(run, id int64) string     { return fmt.Sprintf("runs/%d/samples/%d.png", run, id) }
func CheckpointKey(run int64, step int) string {
	return fmt.Sprintf("runs/%d/checkpoints/%06d.gob", run, step)
}

// sheetKey is where uploads were kept before tiles: one PNG sheet of
// 64 px images. Datasets stored then still read from it.
func sheetKey(id int64) string { return fmt.Sprintf("datasets/%d/images.png", id) }

// DatasetAtKey is a dataset's images downsampled to res: a cache, made
// again from DatasetKey whenever it is missing or unreadable.
func DatasetAtKey(id int64, res int) string { return fmt.Sprintf("datasets/%d/at%d.tiles", id, res) }

var keyRE = regexp.MustCompile(`^[a-z]+(/[a-z0-9][a-z0-9.]*)*/?$`)

// DirBlobs keeps blobs as files under a folder.
type DirBlobs struct{ root string }

// blobTemp is the folder under a DirBlobs' root where objects are written
// before they are renamed into place: one folder to sweep after a crash
// (no key can name it: keys start with a letter).
const blobTemp = ".tmp"

// NewDirBlobs makes the folder if needed.
func NewDirBlobs(root string) (*DirBlobs, error) {
	if err := os.MkdirAll(filepath.Join(root, blobTemp), 0o755); err != nil {
		return nil, fmt.Errorf("blob folder: %w", err)
	}
	return &DirBlobs{root: root}, nil
}

// checkKey refuses what is not a key this package makes; a prefix (a key
// ending in "/") passes only where prefix is true (Delete).
func checkKey(key string, prefix bool) error {
	if !keyRE.MatchString(key) || (!prefix && strings.HasSuffix(key, "/")) {
		return fmt.Errorf("bad blob key %q", key)
	}
	return nil
}

func (b *DirBlobs) path(key string) (string, error) {
	if err := checkKey(key, true); err != nil {
		return "", err
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

func (b *DirBlobs) Put(ctx context.Context, key string, fill func(io.Writer) error) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := atomicfile.WriteVia(filepath.Join(b.root, blobTemp), p, fill); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (b *DirBlobs) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return f, err
}

func (b *DirBlobs) Delete(ctx context.Context, key string) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if key[len(key)-1] == '/' {
		return os.RemoveAll(p)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// TempDir is where objects are written before they are renamed into place.
func (b *DirBlobs) TempDir() string { return filepath.Join(b.root, blobTemp) }

func (b *DirBlobs) List(ctx context.Context, prefix string) ([]BlobInfo, error) {
	var out []BlobInfo
	err := filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.root, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == blobTemp {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || !keyRE.MatchString(key) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, BlobInfo{Key: key, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
