package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/storetest"
	"github.com/ganstudio/ganstudio/store"
)

// hashFolder sums every file in a data folder (SQLite's -shm and -wal,
// which any reader may make, and tmp/ apart).
func hashFolder(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "-shm") || strings.HasSuffix(p, "-wal") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, dir)] = hex.EncodeToString(sum[:])
		return nil
	})
	return out
}

// TestMigrateToPostgresAndS3 moves an embedded studio (SQLite and a data
// folder) with a trained run, a rating, an upload and a queued run into
// Postgres and S3: refused while the studio is in use, interrupted once
// and resumed, verified, the source left byte for byte as it was, and the
// new studio trains the queued run and hands out new ids.
func TestMigrateToPostgresAndS3(t *testing.T) {
	database, blobs := storetest.Fresh(t, t.TempDir())
	ctx := context.Background()
	data := t.TempDir()
	st, q, err := openStudio(ctx, store.Config{Dir: data}, true, time.Minute, spec.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	trained := shapesRun(t, q, st, spec.CPU, 40)
	waitFor(t, "the run to finish", func() bool { r, _ := st.Run(ctx, trained.ID); return r.State == store.Done })
	q.Stop(ctx)
	samples, _, err := st.Samples(ctx, store.SampleQuery{RunID: trained.ID, Step: -1})
	if err != nil || len(samples) == 0 {
		t.Fatalf("samples: %d, %v", len(samples), err)
	}
	if _, err := st.Rate(ctx, samples[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	upload := make([]byte, 300_000)
	rand.Read(upload)
	mine := &store.Dataset{Name: "mine", Res: 64, Count: 1}
	if err := st.CreateDataset(ctx, mine, func(w io.Writer) error { _, err := w.Write(upload); return err }); err != nil {
		t.Fatal(err)
	}
	waiting := shapesRun(t, q, st, spec.CPU, 20) // no worker runs: it stays queued
	args := []string{"--from", data, "--to", database, "--to", blobs}

	// Bad calls and a studio in use (a worker elsewhere answering) are
	// refused, with nothing written.
	if err := st.Heartbeat(ctx, store.Worker{ID: "cpu-elsewhere", Host: "gpu1", Device: spec.CPU}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", data, "--to", database}, "needs a data folder, or a database and blobs"},
		{[]string{"--from", filepath.Join(data, "nothing"), "--to", database, "--to", blobs}, "no such file"},
		{[]string{"--from", data, "--to", "mysql://x", "--to", blobs}, "not a database"},
		{args, "the source studio is in use"},
	} {
		if err := migrateCmd(ctx, c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("migrate %v: %v, want %q", c.args, err, c.want)
		}
	}
	st.RemoveWorker(ctx, "cpu-elsewhere") // stopped cleanly
	st.Close()
	before := hashFolder(t, data)

	// Interrupted once, part way through the blobs.
	src, err := store.OpenConfig(ctx, store.Config{Dir: t.TempDir(), Database: "sqlite:" + filepath.Join(data, "ganstudio.db"),
		Blobs: "dir:" + filepath.Join(data, "blobs"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := store.OpenConfig(ctx, store.Config{Dir: t.TempDir(), Database: database, Blobs: blobs, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	cut, cancel := context.WithCancel(ctx)
	_, err = src.CopyTo(cut, dst, func(what string, done, total int, _ int64) {
		if what == "blobs" && done == 5 {
			cancel()
		}
	})
	src.Close()
	dst.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the interrupted copy: %v", err)
	}

	var out bytes.Buffer
	if err := migrateCmd(ctx, args, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	t.Logf("migrate said:\n%s", out.String())
	m := regexp.MustCompile(`blobs\s+(\d+) objects, [\d.]+ MB \((\d+) copied now\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no blob count in the report")
	}
	if all, now := atoi(m[1]), atoi(m[2]); now >= all || now < all-6 {
		t.Errorf("the resumed copy copied %d of %d objects; want all but the 5 or so the first try did", now, all)
	}
	if !strings.Contains(out.String(), "1 waiting runs queued") {
		t.Errorf("the queued run was not queued on the new studio")
	}
	if after := hashFolder(t, data); len(after) != len(before) {
		t.Errorf("the source folder has %d files after, %d before", len(after), len(before))
	} else {
		for p, h := range before {
			if after[p] != h {
				t.Errorf("the source's %s changed", p)
			}
		}
	}
	// Again: nothing left to copy, still verified.
	out.Reset()
	if err := migrateCmd(ctx, args, &out); err != nil || !strings.Contains(out.String(), "(0 copied now)") {
		t.Errorf("a second migrate: %v\n%s", err, out.String())
	}

	// The new studio: the rating, the upload and the trained run's images
	// are there; the queued run trains; new things get new ids.
	st, q, err = openStudio(ctx, store.Config{Dir: t.TempDir(), Database: database, Blobs: blobs}, true, time.Minute, spec.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if sm, err := st.Sample(ctx, samples[0].ID); err != nil || sm.Rating != 1 {
		t.Errorf("the rated sample on the new studio: %+v, %v", sm, err)
	}
	d, err := st.Dataset(ctx, mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := st.OpenDataset(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, upload) {
		t.Errorf("the upload arrived as %d bytes, want its %d", len(got), len(upload))
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	waitFor(t, "the queued run to train on the new studio", func() bool {
		r, _ := st.Run(ctx, waiting.ID)
		return r.State == store.Done
	})
	fresh := shapesRun(t, q, st, spec.CPU, 10)
	if fresh.ID <= waiting.ID {
		t.Errorf("a new run on the new studio got id %d, not past the copied ones (%d)", fresh.ID, waiting.ID)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
