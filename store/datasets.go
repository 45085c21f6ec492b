package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/proc"
)

// Dataset is a prepared image collection runs train on.
type Dataset struct {
	ID      int64
	Name    string
	Builtin string // name of a built-in dataset, "" for an upload
	Res     int    // side of the stored images in pixels: the largest a run can have (MaxRes)
	Count   int
	Bytes   int64 // size of what was uploaded
	Report  ImportReport
	Created time.Time
}

// MaxRes is the largest side a run on the dataset can have: its images
// are kept at that side and downsampled for smaller runs, never upsampled.
// Uploads from before datasets were kept at up to 256 px say 64.
func (d *Dataset) MaxRes() int { return d.Res }

// Resolutions are the run sides the dataset serves, smallest first.
func (d *Dataset) Resolutions() []int {
	var out []int
	for _, r := range spec.Resolutions {
		if r <= d.Res {
			out = append(out, r)
		}
	}
	return out
}

// ImportReport is what the import made of an upload.
type ImportReport struct {
	Files   int           `json:"files"`
	Skipped []SkippedFile `json:"skipped"`
	// Upsampled counts images smaller than the side the dataset is kept
	// at, enlarged to it.
	Upsampled int `json:"upsampled,omitempty"`
}

// SkippedFile is one file the import left out, and why.
type SkippedFile struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ErrInUse is returned when deleting something that others still need.
var ErrInUse = errors.New("in use")

const datasetCols = `id, name, builtin, res, count, bytes, report, created_at`

func scanDataset(sc interface{ Scan(...any) error }) (*Dataset, error) {
	var d Dataset
	var report string
	var created int64
	if err := sc.Scan(&d.ID, &d.Name, &d.Builtin, &d.Res, &d.Count, &d.Bytes, &report, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(report), &d.Report); err != nil {
		return nil, fmt.Errorf("dataset %d report: %w", d.ID, err)
	}
	d.Created = Time(created)
	return &d, nil
}

// CreateDataset records d and stores its images (written by writeSheet,
// as datasets.Dataset.WriteTiles does) as one blob; on any error nothing is
// left behind. The blob is written outside any transaction (a large one
// takes a while to encode, and training must not wait for the database
// meanwhile); the dataset is listed only once it is complete.
func (s *Store) CreateDataset(ctx context.Context, d *Dataset, writeSheet func(io.Writer) error) error {
	report, err := json.Marshal(d.Report)
	if err != nil {
		return err
	}
	// The row names its writer, so that if this process is killed before
	// the sheet is whole, the next start knows at once the row is dead.
	err = s.DB.QueryRowContext(ctx, `INSERT INTO datasets (name, builtin, res, count, bytes, report, ready, owner, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, d.Name, d.Builtin, d.Res, d.Count, d.Bytes, string(report),
		flag(writeSheet == nil), proc.Self().String(), now()).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("save dataset %q: %w", d.Name, err)
	}
	d.Created = time.Now()
	if writeSheet == nil {
		return nil
	}
	err = s.Blobs.Put(ctx, DatasetKey(d.ID), writeSheet)
	if err == nil {
		_, err = s.DB.ExecContext(ctx, `UPDATE datasets SET ready = 1 WHERE id = $1`, d.ID)
	}
	if err != nil {
		bg := context.WithoutCancel(ctx)
		s.Blobs.Delete(bg, fmt.Sprintf("datasets/%d/", d.ID))
		s.DB.ExecContext(bg, `DELETE FROM datasets WHERE id = $1`, d.ID)
		return fmt.Errorf("save dataset %q: %w", d.Name, err)
	}
	return nil
}

// EnsureBuiltin records a built-in dataset once, so it is listed and runs
// can point at it; res is the largest side it comes at. Processes starting
// together record it once between them. A row recorded by an older
// version takes this version's res and count (built-in rows said 64
// before datasets served 128 px).
func (s *Store) EnsureBuiltin(ctx context.Context, name string, res, count int) (*Dataset, error) {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO datasets (name, builtin, res, count, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (builtin) WHERE builtin != '' DO UPDATE SET res = excluded.res, count = excluded.count
		WHERE datasets.res != excluded.res OR datasets.count != excluded.count`, name+" (built-in)", name, res, count, now())
	if err != nil {
		return nil, fmt.Errorf("built-in dataset %s: %w", name, err)
	}
	d, err := scanDataset(s.DB.QueryRowContext(ctx, `SELECT `+datasetCols+` FROM datasets WHERE builtin = $1`, name))
	if err != nil {
		return nil, fmt.Errorf("built-in dataset %s: %w", name, err)
	}
	return d, nil
}

// Dataset returns one dataset.
func (s *Store) Dataset(ctx context.Context, id int64) (*Dataset, error) {
	d, err := scanDataset(s.DB.QueryRowContext(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = $1 AND ready = 1`, id))
	if err != nil {
		return nil, notFound("dataset", id, err)
	}
	return d, nil
}

// Datasets lists every dataset, built-in ones first, then newest first.
func (s *Store) Datasets(ctx context.Context) ([]*Dataset, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+datasetCols+` FROM datasets WHERE ready = 1 ORDER BY builtin = '', CASE WHEN builtin != '' THEN id END, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// OpenDataset opens an uploaded dataset's images as stored: tiles, or
// for a dataset uploaded before tiles, its sheet (datasets.ReadStored
// reads either).
func (s *Store) OpenDataset(ctx context.Context, d *Dataset) (io.ReadCloser, error) {
	r, err := s.Blobs.Open(ctx, DatasetKey(d.ID))
	if errors.Is(err, ErrNotFound) {
		r, err = s.Blobs.Open(ctx, sheetKey(d.ID))
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %d images: %w", d.ID, err)
	}
	return r, nil
}

// OpenDatasetAt opens the cached copy of a dataset's images at res
// (ErrNotFound when there is none yet).
func (s *Store) OpenDatasetAt(ctx context.Context, d *Dataset, res int) (io.ReadCloser, error) {
	return s.Blobs.Open(ctx, DatasetAtKey(d.ID, res))
}

// PutDatasetAt caches a dataset's images at res, as write writes them.
// Deleting the dataset deletes its caches.
func (s *Store) PutDatasetAt(ctx context.Context, d *Dataset, res int, write func(io.Writer) error) error {
	if err := s.Blobs.Put(ctx, DatasetAtKey(d.ID, res), write); err != nil {
		return fmt.Errorf("cache dataset %d at %d px: %w", d.ID, res, err)
	}
	return nil
}

// DeleteDataset removes an uploaded dataset no run uses.
func (s *Store) DeleteDataset(ctx context.Context, id int64) error {
	d, err := s.Dataset(ctx, id)
	if err != nil {
		return err
	}
	if d.Builtin != "" {
		return fmt.Errorf("dataset %q is built in: %w", d.Name, ErrInUse)
	}
	err = s.Tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE dataset_id = $1 ORDER BY id`, id)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var r int64
			rows.Scan(&r)
			ids = append(ids, fmt.Sprint(r))
		}
		rows.Close()
		if len(ids) > 0 {
			return fmt.Errorf("dataset %q is used by run %s: %w", d.Name, strings.Join(ids, ", "), ErrInUse)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM datasets WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return err
	}
	return s.Blobs.Delete(ctx, fmt.Sprintf("datasets/%d/", id))
}
