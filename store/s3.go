package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ganstudio/ganstudio/internal/atomicfile"
)

// S3Options say where an S3Blobs keeps its objects.
type S3Options struct {
	Endpoint string // host[:port]
	Secure   bool   // https (the default) or http
	Region   string
	Bucket   string
	Prefix   string // "" or ending in "/": prepended to every key
	// Temp is a local folder for objects on their way up.
	Temp string
	// Cache is a local folder for copies of the objects a worker reads
	// again and again (datasets, checkpoints); "" keeps none. It may
	// vanish at any time: a missing or stale copy is fetched again.
	Cache string
	// Patience is how long an operation keeps retrying while the server
	// cannot be reached or answers 5xx, before it fails: long enough to
	// ride out a restart of the storage server (default 5 minutes).
	Patience time.Duration
}

// ParseS3 reads s3://BUCKET/PREFIX?endpoint=URL&region=R&patience=D.
// endpoint defaults to https://s3.amazonaws.com; the credentials come from
// the usual environment variables (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, or MINIO_ACCESS_KEY and MINIO_SECRET_KEY) or
// ~/.aws/credentials.
func ParseS3(s string) (S3Options, error) {
	bad := func(why string) (S3Options, error) {
		return S3Options{}, fmt.Errorf("--blobs %q: %s (want s3://BUCKET/PREFIX?endpoint=http://HOST:PORT)", s, why)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" {
		return bad("not an s3:// URL")
	}
	o := S3Options{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Region: u.Query().Get("region"), Patience: 5 * time.Minute}
	if o.Bucket == "" {
		return bad("no bucket")
	}
	if o.Prefix != "" {
		o.Prefix += "/"
	}
	ep := u.Query().Get("endpoint")
	if ep == "" {
		ep = "https://s3.amazonaws.com"
	}
	e, err := url.Parse(ep)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
		return bad("endpoint must be http://HOST:PORT or https://HOST")
	}
	o.Endpoint, o.Secure = e.Host, e.Scheme == "https"
	if p := u.Query().Get("patience"); p != "" {
		if o.Patience, err = time.ParseDuration(p); err != nil || o.Patience < 0 {
			return bad("patience must be a duration such as 5m")
		}
	}
	return o, nil
}

// String names the objects' place, for logs.
func (o S3Options) String() string {
	scheme := "http"
	if o.Secure {
		scheme = "https"
	}
	return fmt.Sprintf("s3://%s/%s at %s://%s", o.Bucket, o.Prefix, scheme, o.Endpoint)
}

// S3Blobs keeps blobs as objects in an S3-compatible bucket. A Put uploads
// a finished local file of known length, and S3 replaces an object at
// once, so readers see the old object or the new one, never a part.
type S3Blobs struct {
	c *minio.Client
	o S3Options
}

// NewS3Blobs makes the client; Check tells whether the bucket answers.
func NewS3Blobs(o S3Options) (*S3Blobs, error) {
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
	})
	c, err := minio.New(o.Endpoint, &minio.Options{Creds: creds, Secure: o.Secure, Region: o.Region,
		BucketLookup: minio.BucketLookupPath, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("blobs %s: %w", o, err)
	}
	if o.Temp == "" {
		return nil, fmt.Errorf("blobs %s: no local folder for uploads", o)
	}
	return &S3Blobs{c: c, o: o}, nil
}

// Check makes sure the bucket exists and the credentials open it.
func (b *S3Blobs) Check(ctx context.Context) error {
	var ok bool
	err := b.retry(ctx, "open bucket", func() (err error) {
		ok, err = b.c.BucketExists(ctx, b.o.Bucket)
		return err
	})
	if err != nil {
		return fmt.Errorf("blobs %s: %w", b.o, err)
	}
	if !ok {
		return fmt.Errorf("blobs %s: bucket %s does not exist: make it first", b.o, b.o.Bucket)
	}
	return nil
}

// TempDir is where uploads are written before they go (swept at start).
func (b *S3Blobs) TempDir() string { return b.o.Temp }

// cached says whether key is kept in the cache: datasets and checkpoints,
// which workers read whole, often, and which are large. Grids and samples
// are read once by a browser and go straight through.
func (b *S3Blobs) cached(key string) bool {
	return b.o.Cache != "" && (strings.HasPrefix(key, "datasets/") || strings.Contains(key, "/checkpoints/"))
}

var etagRE = regexp.MustCompile(`[^A-Za-z0-9-]`)

// cachePath is where the copy of key's version etag is kept: one folder
// per key, one file per version, so a copy is never taken for another
// version of the object.
func (b *S3Blobs) cachePath(key, etag string) string {
	return filepath.Join(b.o.Cache, filepath.FromSlash(key)+".v", etagRE.ReplaceAllString(etag, "")+".blob")
}

func (b *S3Blobs) Put(ctx context.Context, key string, fill func(io.Writer) error) error {
	if err := checkKey(key, false); err != nil {
		return err
	}
	f, err := atomicfile.CreateTemp(b.TempDir(), filepath.Base(key))
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	if err := atomicfile.Fill(f, fill); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	var info minio.UploadInfo
	err = b.retry(ctx, "put "+key, func() error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		// A known size and one part up to 64 MiB: no streaming signature,
		// no part buffered in memory beyond the file itself.
		info, err = b.c.PutObject(ctx, b.o.Bucket, b.o.Prefix+key, f, size,
			minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: 64 << 20, DisableMultipart: size <= 64<<20})
		return err
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if b.cached(key) && info.ETag != "" {
		// What this process wrote it will likely read (a checkpoint to
		// resume from): keep the file as the cached copy of that version.
		b.dropCache(key)
		p := b.cachePath(key, info.ETag)
		if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
			f.Close()
			os.Rename(f.Name(), p) // at worst the next read fetches it
		}
	}
	return nil
}

func (b *S3Blobs) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key, false); err != nil {
		return nil, err
	}
	var st minio.ObjectInfo
	err := b.retry(ctx, "open "+key, func() (err error) {
		st, err = b.c.StatObject(ctx, b.o.Bucket, b.o.Prefix+key, minio.StatObjectOptions{})
		return err
	})
	if isNoSuchKey(err) {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", key, err)
	}
	if !b.cached(key) {
		return b.get(ctx, key, st)
	}
	p := b.cachePath(key, st.ETag)
	if f, err := os.Open(p); err == nil {
		if fi, err := f.Stat(); err == nil && fi.Size() == st.Size {
			return f, nil
		}
		f.Close()
	}
	b.dropCache(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return b.get(ctx, key, st) // no cache today: read it straight
	}
	err = b.retry(ctx, "fetch "+key, func() error {
		return atomicfile.WriteVia(b.TempDir(), p, func(w io.Writer) error {
			rc, err := b.get(ctx, key, st)
			if err != nil {
				return err
			}
			defer rc.Close()
			n, err := io.Copy(w, rc)
			if err == nil && n != st.Size {
				err = fmt.Errorf("got %d bytes of %d", n, st.Size)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", key, err)
	}
	return os.Open(p)
}

// get streams one version of an object: if the object is replaced while
// it is read, the read fails rather than mixing two versions.
func (b *S3Blobs) get(ctx context.Context, key string, st minio.ObjectInfo) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(st.ETag); err != nil {
		return nil, err
	}
	o, err := b.c.GetObject(ctx, b.o.Bucket, b.o.Prefix+key, opts)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", key, err)
	}
	return o, nil
}

func (b *S3Blobs) dropCache(key string) {
	if b.o.Cache == "" {
		return
	}
	os.RemoveAll(filepath.Join(b.o.Cache, filepath.FromSlash(strings.TrimSuffix(key, "/"))+".v"))
}

func (b *S3Blobs) Delete(ctx context.Context, key string) error {
	if err := checkKey(key, true); err != nil {
		return err
	}
	if !strings.HasSuffix(key, "/") {
		b.dropCache(key)
		return b.retry(ctx, "delete "+key, func() error {
			return b.c.RemoveObject(ctx, b.o.Bucket, b.o.Prefix+key, minio.RemoveObjectOptions{})
		})
	}
	if b.o.Cache != "" {
		os.RemoveAll(filepath.Join(b.o.Cache, filepath.FromSlash(key)))
	}
	return b.retry(ctx, "delete "+key, func() error {
		objs := make(chan minio.ObjectInfo)
		var listErr error
		go func() {
			defer close(objs)
			for o := range b.c.ListObjects(ctx, b.o.Bucket, minio.ListObjectsOptions{Prefix: b.o.Prefix + key, Recursive: true}) {
				if o.Err != nil {
					listErr = o.Err
					return
				}
				objs <- o
			}
		}()
		var errs []error
		for e := range b.c.RemoveObjects(ctx, b.o.Bucket, objs, minio.RemoveObjectsOptions{}) {
			errs = append(errs, e.Err)
		}
		return errors.Join(append(errs, listErr)...)
	})
}

// List returns the keys under prefix with their sizes, in key order.
func (b *S3Blobs) List(ctx context.Context, prefix string) ([]BlobInfo, error) {
	var out []BlobInfo
	err := b.retry(ctx, "list "+prefix, func() error {
		out = out[:0]
		for o := range b.c.ListObjects(ctx, b.o.Bucket, minio.ListObjectsOptions{Prefix: b.o.Prefix + prefix, Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
			key := strings.TrimPrefix(o.Key, b.o.Prefix)
			if !keyRE.MatchString(key) {
				continue // not the studio's (a bucket or prefix shared with other things)
			}
			out = append(out, BlobInfo{Key: key, Size: o.Size})
		}
		return nil
	})
	return out, err
}

// retry runs op until it succeeds, fails for good, or the server has been
// unreachable (or answering 5xx) for Patience: a storage server restarting
// holds training up instead of failing it.
func (b *S3Blobs) retry(ctx context.Context, what string, op func() error) error {
	deadline := time.Now().Add(b.o.Patience)
	wait, warned := 250*time.Millisecond, false
	for {
		err := op()
		if err == nil || !transient(err) || time.Now().After(deadline) {
			if err == nil && warned {
				slog.Info("object storage answers again", "op", what)
			}
			return err
		}
		if !warned {
			slog.Warn("object storage unreachable; retrying", "op", what, "for", b.o.Patience, "err", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// transient tells a storage server that is down or overloaded (worth
// waiting for) from an answer that will not change (no such key, denied).
func transient(err error) bool {
	// A connection cut mid-answer; only S3 calls are retried on it (a
	// local file cut short says the same, and is not worth waiting for).
	return unreachable(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// unreachable tells a server that cannot be reached, or answers that it
// is down or overloaded.
func unreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	r := minio.ToErrorResponse(err)
	return r.StatusCode >= 500 || r.Code == "SlowDown" || r.Code == "RequestTimeout" ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset")
}

func isNoSuchKey(err error) bool {
	if err == nil {
		return false
	}
	r := minio.ToErrorResponse(err)
	return r.Code == "NoSuchKey" || r.StatusCode == 404
}
