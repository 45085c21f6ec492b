package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Where samples come from.
const (
	OriginSnapshot = "snapshot" // drawn during training at a snapshot
	OriginFinal    = "final"    // drawn when the run finished
	OriginGenerate = "generate" // asked for by a user
	OriginSession  = "session"  // drawn for a rating session
)

// Sample is one generated image with the latent that makes it.
type Sample struct {
	ID      int64     `json:"id"`
	RunID   int64     `json:"run_id"`
	Step    int       `json:"step"`
	Origin  string    `json:"origin"`
	Latent  []float32 `json:"latent,omitempty"`
	Rating  int       `json:"rating"` // latest rating: 1 liked, -1 disliked, 0 none
	Created time.Time `json:"created"`
}

func encodeLatent(z []float32) []byte {
	b := make([]byte, 4*len(z))
	for i, v := range z {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func decodeLatent(b []byte) []float32 {
	z := make([]float32, len(b)/4)
	for i := range z {
		z[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return z
}

// AddSamples records one sample per latent and stores the PNG that
// writePNG(i, w) writes for latent i. All or none are saved.
func (s *Store) AddSamples(ctx context.Context, runID int64, step int, origin string, latents [][]float32,
	writePNG func(i int, w io.Writer) error) ([]Sample, error) {
	out := make([]Sample, 0, len(latents))
	var keys []string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		t := now()
		for i, z := range latents {
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO samples (run_id, step, origin, latent, created_at) VALUES ($1, $2, $3, $4, $5)
				RETURNING id`, runID, step, origin, encodeLatent(z), t).Scan(&id)
			if err != nil {
				return err
			}
			key := SampleKey(runID, id)
			if err := s.Blobs.Put(ctx, key, func(w io.Writer) error { return writePNG(i, w) }); err != nil {
				return err
			}
			keys = append(keys, key)
			out = append(out, Sample{ID: id, RunID: runID, Step: step, Origin: origin, Latent: z, Created: Time(t)})
		}
		return nil
	})
	if err != nil {
		for _, k := range keys {
			s.Blobs.Delete(ctx, k)
		}
		return nil, fmt.Errorf("save samples of run %d: %w", runID, err)
	}
	return out, nil
}

const sampleCols = `id, run_id, step, origin, latent, rating, created_at`

func scanSample(sc interface{ Scan(...any) error }) (*Sample, error) {
	var sm Sample
	var lat []byte
	var c int64
	if err := sc.Scan(&sm.ID, &sm.RunID, &sm.Step, &sm.Origin, &lat, &sm.Rating, &c); err != nil {
		return nil, err
	}
	sm.Latent, sm.Created = decodeLatent(lat), Time(c)
	return &sm, nil
}

// Sample returns one sample.
func (s *Store) Sample(ctx context.Context, id int64) (*Sample, error) {
	sm, err := scanSample(s.DB.QueryRowContext(ctx, `SELECT `+sampleCols+` FROM samples WHERE id = $1`, id))
	if err != nil {
		return nil, notFound("sample", id, err)
	}
	return sm, nil
}

// SampleQuery filters a run's samples. Step < 0 and Rating == nil mean any;
// IDs, if set, keeps only those samples.
type SampleQuery struct {
	RunID  int64
	Step   int
	Origin string // "": any
	Rating *int
	IDs    []int64
	Offset int
	Limit  int // 0: all
}

// Samples returns the samples q selects, newest step first, and how many
// there are in all.
func (s *Store) Samples(ctx context.Context, q SampleQuery) ([]*Sample, int, error) {
	var p params
	where := []string{"run_id = " + p.add(q.RunID)}
	if q.Step >= 0 {
		where = append(where, "step = "+p.add(q.Step))
	}
	if q.Rating != nil {
		where = append(where, "rating = "+p.add(*q.Rating))
	}
	if q.Origin != "" {
		where = append(where, "origin = "+p.add(q.Origin))
	}
	if len(q.IDs) > 0 {
		ids := make([]string, len(q.IDs))
		for i, id := range q.IDs {
			ids[i] = p.add(id)
		}
		where = append(where, "id IN ("+strings.Join(ids, ",")+")")
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM samples WHERE `+w, p...).Scan(&total); err != nil {
		return nil, 0, err
	}
	lim := int64(q.Limit)
	if lim <= 0 {
		lim = math.MaxInt64 // neither database has one word for "all" that the other takes
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+sampleCols+` FROM samples WHERE `+w+` ORDER BY step DESC, id LIMIT `+
		p.add(lim)+` OFFSET `+p.add(q.Offset), p...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*Sample
	for rows.Next() {
		sm, err := scanSample(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, sm)
	}
	return out, total, rows.Err()
}

// SampleSteps lists the steps a run has samples at, newest first.
func (s *Store) SampleSteps(ctx context.Context, runID int64) ([]int, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT step FROM samples WHERE run_id = $1 ORDER BY step DESC`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var st int
		rows.Scan(&st)
		out = append(out, st)
	}
	return out, rows.Err()
}

// Rate records a rating (1 like, -1 dislike, 0 clear) and makes it the
// sample's current one. Every rating is kept, for training to read.
func (s *Store) Rate(ctx context.Context, sampleID int64, value int) (*Sample, error) {
	if value < -1 || value > 1 {
		return nil, fmt.Errorf("rating must be 1, -1 or 0, got %d", value)
	}
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE samples SET rating = $1 WHERE id = $2`, value, sampleID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("sample", sampleID, sql.ErrNoRows)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ratings (sample_id, value, created_at) VALUES ($1, $2, $3)`, sampleID, value, now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Sample(ctx, sampleID)
}

// RatingCounts returns how many of a run's samples are liked and disliked.
func (s *Store) RatingCounts(ctx context.Context, runID int64) (liked, disliked int, err error) {
	err = s.DB.QueryRowContext(ctx, `SELECT COUNT(CASE WHEN rating = 1 THEN 1 END), COUNT(CASE WHEN rating = -1 THEN 1 END) FROM samples WHERE run_id = $1`,
		runID).Scan(&liked, &disliked)
	return
}
