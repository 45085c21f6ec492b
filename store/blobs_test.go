package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ganstudio/ganstudio/internal/storetest"
)

// blobBackends makes a fresh, empty Blobs of each kind: a folder, and a
// prefix of its own in the S3 server that scripts/scale-env.sh started
// (skipped outside it). Each backend runs the same suite, the way one BLAS
// test suite runs against each implementation.
func blobBackends(t *testing.T) map[string]func(t *testing.T) Blobs {
	return map[string]func(t *testing.T) Blobs{
		"dir": func(t *testing.T) Blobs {
			b, err := NewDirBlobs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		"s3": func(t *testing.T) Blobs { return newTestS3(t, t.TempDir(), filepath.Join(t.TempDir(), "cache")) },
	}
}

// newTestS3 is an S3Blobs on dir's own prefix with a cache of its own: two
// made for the same dir are two machines sharing one bucket.
func newTestS3(t *testing.T, dir, cache string) *S3Blobs {
	t.Helper()
	_, url := storetest.Fresh(t, dir)
	o, err := ParseS3(url)
	if err != nil {
		t.Fatal(err)
	}
	o.Cache, o.Temp = cache, filepath.Join(cache, "tmp")
	b, err := NewS3Blobs(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, b Blobs, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, b Blobs, key string) ([]byte, error) {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestBlobsConformance(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, b Blobs)
	}{
		{"round trip of an object of unknown size", func(t *testing.T, b Blobs) {
			// 3 MiB written through fill in pieces: the size an S3 fake
			// once stored with signature frames inside.
			want := random(3 << 20)
			err := b.Put(ctx, DatasetKey(1), func(w io.Writer) error {
				for p := want; len(p) > 0; p = p[min(len(p), 100_000):] {
					if _, err := w.Write(p[:min(len(p), 100_000)]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := get(t, b, DatasetKey(1))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(want))
			}
		}},
		{"empty object", func(t *testing.T, b Blobs) {
			put(t, b, GridKey(1, 0), nil)
			if got, err := get(t, b, GridKey(1, 0)); err != nil || len(got) != 0 {
				t.Fatalf("empty object: %d bytes, %v", len(got), err)
			}
		}},
		{"missing key is ErrNotFound", func(t *testing.T, b Blobs) {
			for _, k := range []string{SampleKey(9, 9), CheckpointKey(9, 9)} {
				if _, err := b.Open(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Errorf("open %s: %v, want ErrNotFound", k, err)
				}
			}
		}},
		{"failed write leaves the old object", func(t *testing.T, b Blobs) {
			put(t, b, CheckpointKey(1, 5), []byte("old"))
			err := b.Put(ctx, CheckpointKey(1, 5), func(w io.Writer) error {
				w.Write(random(2 << 20))
				return errors.New("disk on fire")
			})
			if err == nil {
				t.Fatal("want the fill's error")
			}
			if got, err := get(t, b, CheckpointKey(1, 5)); err != nil || string(got) != "old" {
				t.Fatalf("after a failed replace: %q, %v; want the old object", got, err)
			}
			err = b.Put(ctx, CheckpointKey(1, 6), func(w io.Writer) error { w.Write([]byte("part")); return errors.New("x") })
			if _, err2 := b.Open(ctx, CheckpointKey(1, 6)); err == nil || !errors.Is(err2, ErrNotFound) {
				t.Fatalf("a failed first write: put %v, then open %v; want nothing stored", err, err2)
			}
		}},
		{"replace is whole: readers see the old or the new", func(t *testing.T, b Blobs) {
			versions := [][]byte{bytes.Repeat([]byte{'a'}, 1<<20), bytes.Repeat([]byte{'b'}, 1<<20+7)}
			put(t, b, CheckpointKey(2, 1), versions[0])
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var bad []string
			var mu sync.Mutex
			for r := 0; r < 3; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						got, err := get(t, b, CheckpointKey(2, 1))
						if err == nil && !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
							mu.Lock()
							bad = append(bad, fmt.Sprintf("%d bytes, neither version", len(got)))
							mu.Unlock()
						}
					}
				}()
			}
			for i := 1; i <= 10; i++ {
				put(t, b, CheckpointKey(2, 1), versions[i%2])
			}
			close(stop)
			wg.Wait()
			if len(bad) > 0 {
				t.Fatalf("readers saw a mix: %v", bad)
			}
		}},
		{"delete a key and a prefix", func(t *testing.T, b Blobs) {
			for _, k := range []string{SampleKey(3, 1), SampleKey(3, 2), GridKey(3, 10), CheckpointKey(3, 10), SampleKey(4, 1)} {
				put(t, b, k, []byte(k))
			}
			if err := b.Delete(ctx, SampleKey(3, 1)); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, SampleKey(3, 99)); err != nil {
				t.Errorf("deleting a missing key: %v", err)
			}
			if _, err := b.Open(ctx, SampleKey(3, 1)); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted key opens: %v", err)
			}
			list, err := b.List(ctx, RunKey(3))
			if err != nil || len(list) != 3 {
				t.Errorf("list of run 3 after one delete: %v, %v; want 3 keys", list, err)
			}
			if err := b.Delete(ctx, RunKey(3)); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{SampleKey(3, 2), GridKey(3, 10), CheckpointKey(3, 10)} {
				if _, err := b.Open(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s after deleting its run: %v", k, err)
				}
			}
			if got, err := get(t, b, SampleKey(4, 1)); err != nil || string(got) != SampleKey(4, 1) {
				t.Errorf("another run's blob after the delete: %q, %v", got, err)
			}
		}},
		{"list is in key order with sizes", func(t *testing.T, b Blobs) {
			put(t, b, SampleKey(5, 2), []byte("22"))
			put(t, b, SampleKey(5, 10), []byte("1010"))
			put(t, b, DatasetKey(5), []byte("d"))
			list, err := b.List(ctx, "")
			want := []BlobInfo{{DatasetKey(5), 1}, {SampleKey(5, 10), 4}, {SampleKey(5, 2), 2}}
			if err != nil || fmt.Sprint(list) != fmt.Sprint(want) {
				t.Errorf("list: %v, %v; want %v", list, err, want)
			}
		}},
		{"keys that could escape are refused", func(t *testing.T, b Blobs) {
			for _, k := range []string{"../etc/passwd", "runs/../../x", "/abs", "runs/1/../2", "Runs/1", ".tmp/x"} {
				if err := b.Put(ctx, k, func(io.Writer) error { return nil }); err == nil {
					t.Errorf("put %q accepted", k)
				}
				if _, err := b.Open(ctx, k); err == nil || errors.Is(err, ErrNotFound) {
					t.Errorf("open %q: %v, want a bad-key error", k, err)
				}
			}
		}},
	}
	for name, make := range blobBackends(t) {
		t.Run(name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, make(t)) })
			}
		})
	}
}

// TestS3Cache: a worker's cached copy of a checkpoint never hides a newer
// version another machine wrote, and the cache may vanish at any time.
func TestS3Cache(t *testing.T) {
	dir := t.TempDir()
	one := newTestS3(t, dir, filepath.Join(t.TempDir(), "cache"))
	two := newTestS3(t, dir, filepath.Join(t.TempDir(), "cache"))
	key := CheckpointKey(1, 100)
	put(t, one, key, []byte("first"))
	if got, _ := get(t, two, key); string(got) != "first" {
		t.Fatalf("the other machine reads %q", got)
	}
	put(t, one, key, []byte("second, after a rollback"))
	if got, _ := get(t, two, key); string(got) != "second, after a rollback" {
		t.Errorf("a stale cached copy was served: %q", got)
	}
	if err := os.RemoveAll(two.o.Cache); err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, two, key); err != nil || string(got) != "second, after a rollback" {
		t.Errorf("after the cache vanished: %q, %v", got, err)
	}
	// A corrupt copy (cut short) is fetched again.
	copies, _ := filepath.Glob(filepath.Join(two.o.Cache, "runs", "1", "checkpoints", "*.v", "*"))
	if len(copies) != 1 {
		t.Fatalf("%d cached copies, want 1", len(copies))
	}
	os.WriteFile(copies[0], []byte("sec"), 0o644)
	if got, _ := get(t, two, key); string(got) != "second, after a rollback" {
		t.Errorf("a cut-short copy was served: %q", got)
	}
	if err := one.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Open(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted object still opens from the cache: %v", err)
	}
}
