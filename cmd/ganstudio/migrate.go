package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
)

// places collects --from or --to: a data folder, or a database and a
// blob store named by their URLs, in any order.
type places []string

func (p *places) String() string     { return strings.Join(*p, " ") }
func (p *places) Set(v string) error { *p = append(*p, v); return nil }

// studioAt reads one side of a migration: a bare path is an embedded
// studio's data folder (its ganstudio.db and blobs/); sqlite:…, postgres://…
// name the database, dir:… and s3://… the blobs.
func studioAt(side string, p places) (store.Config, error) {
	var c store.Config
	for _, v := range p {
		switch {
		case strings.HasPrefix(v, "sqlite:") || strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://"):
			c.Database = v
		case strings.HasPrefix(v, "dir:") || strings.HasPrefix(v, "s3://"):
			c.Blobs = v
		case strings.Contains(v, "://"):
			return c, fmt.Errorf("--%s %q: not a database (sqlite:PATH, postgres://…), blobs (dir:PATH, s3://…) or a data folder", side, v)
		default:
			c.Database, c.Blobs = "sqlite:"+filepath.Join(v, "ganstudio.db"), "dir:"+filepath.Join(v, "blobs")
		}
	}
	if c.Database == "" || c.Blobs == "" {
		return c, fmt.Errorf("--%s needs a data folder, or a database and blobs: e.g. --%s postgres://… --%s s3://BUCKET/PREFIX?endpoint=…", side, side, side)
	}
	return c, nil
}

// migrateCmd copies a whole studio, database rows and blobs, into another
// (SQLite and a folder into Postgres and S3, say), verifies the copy and
// queues the runs that were waiting. The source is opened read-only.
func migrateCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var from, to places
	fs.Var(&from, "from", "the studio to copy: its data folder, or its database and blobs (give --from twice)")
	fs.Var(&to, "to", "where to copy it: a database (postgres://… or sqlite:PATH) and blobs (s3://BUCKET/PREFIX?endpoint=… or dir:PATH), each as a --to")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	src, err := studioAt("from", from)
	if err != nil {
		return err
	}
	dst, err := studioAt("to", to)
	if err != nil {
		return err
	}
	if src.Database == dst.Database || src.Blobs == dst.Blobs {
		return fmt.Errorf("--from and --to name the same database or blobs")
	}
	// Neither side caches: verification reads what each really holds.
	local, err := os.MkdirTemp("", "ganstudio-migrate-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(local)
	src.Dir, src.ReadOnly, src.NoCache = filepath.Join(local, "from"), true, true
	dst.Dir, dst.NoCache = filepath.Join(local, "to"), true

	s, err := store.OpenConfig(ctx, src)
	if err != nil {
		return fmt.Errorf("the source: %w", err)
	}
	defer s.Close()
	ws, err := s.Workers(ctx, time.Now().Add(-jobs.DefaultStaleAfter))
	if err != nil {
		return err
	}
	if len(ws) > 0 {
		return fmt.Errorf("the source studio is in use (worker %s on %s answered %s ago): stop its serve and worker processes first, so that nothing changes while it is copied",
			ws[0].ID, ws[0].Host, time.Since(ws[0].Seen).Round(time.Second))
	}
	d, err := store.OpenConfig(ctx, dst)
	if err != nil {
		return fmt.Errorf("the target: %w", err)
	}
	defer d.Close()
	fmt.Fprintf(out, "copying %s\n   into %s\n", s.Where(), d.Where())

	last := map[string]time.Time{}
	progress := func(what string, done, total int, bytes int64) {
		if done != total && time.Since(last[what]) < time.Second {
			return
		}
		last[what] = time.Now()
		if bytes > 0 {
			fmt.Fprintf(out, "  %-12s %d of %d (%.1f MB)\n", what, done, total, float64(bytes)/1e6)
		} else {
			fmt.Fprintf(out, "  %-12s %d of %d\n", what, done, total)
		}
	}
	counts, err := s.CopyTo(ctx, d, progress)
	if err != nil {
		return fmt.Errorf("%w (what was copied stays; run the same command again to go on)", err)
	}
	q, err := jobs.New(ctx, d, jobs.Options{})
	if err != nil {
		return err
	}
	queued, err := q.EnqueueJobless(ctx)
	if err != nil {
		return fmt.Errorf("queueing the waiting runs: %w (run the same command again)", err)
	}
	fmt.Fprintln(out, "verified: both sides hold the same rows and objects")
	for _, c := range counts {
		unit := "rows"
		if c.Name == "blobs" {
			unit = fmt.Sprintf("objects, %.1f MB", float64(c.Bytes)/1e6)
		}
		fmt.Fprintf(out, "  %-10s %6d %s (%d copied now), SHA-256 %s…\n", c.Name, c.Rows, unit, c.Copied, c.Sum[:16])
	}
	fmt.Fprintf(out, "%d waiting runs queued on the new studio; the source is untouched.\n", queued)
	fmt.Fprintln(out, "start it with serve and worker's --database and --blobs set to what --to named.")
	return nil
}
