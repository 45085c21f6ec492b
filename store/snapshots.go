package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// Snapshot is what a run kept at one step: a grid, figures, maybe a checkpoint.
type Snapshot struct {
	RunID      int64     `json:"-"`
	Step       int       `json:"step"`
	SWD        float64   `json:"swd"`       // quality, lower is better; -1 if not measured
	SWDFloor   float64   `json:"swd_floor"` // the same figure between real images
	Checkpoint bool      `json:"checkpoint"`
	Created    time.Time `json:"created"`
	// Health is the mode-collapse check of this step: Level "" when the
	// step was not judged (warm-up, or the policy is off); figures -1
	// when not measured.
	Health spec.HealthReport `json:"health"`
	// LikedShare is the share of new samples the run's rating model
	// would like at this step; -1 when there was no model.
	LikedShare float64 `json:"liked_share"`
}

// NoHealth is the health of a snapshot with nothing measured.
var NoHealth = spec.HealthReport{Diversity: -1, Duplicates: -1, NDB: -1, Precision: -1, DFakeSpread: -1}

// AddSnapshot records (or replaces) the snapshot at its step.
func (s *Store) AddSnapshot(ctx context.Context, sn Snapshot) error {
	h := sn.Health
	// NaN would be stored as NULL and Inf cannot be sent as JSON: a figure
	// that is not a number is "not measured".
	for _, f := range []*float64{&h.Diversity, &h.Duplicates, &h.NDB, &h.Precision, &h.DFakeSpread, &sn.SWD, &sn.LikedShare} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = -1
		}
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO snapshots (run_id, step, swd, swd_floor, checkpoint, created_at,
		health, health_reason, diversity, duplicates, ndb, precision, d_fake_spread, liked_share) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (run_id, step) DO UPDATE SET swd = excluded.swd, swd_floor = excluded.swd_floor, checkpoint = excluded.checkpoint,
		created_at = excluded.created_at, health = excluded.health, health_reason = excluded.health_reason, diversity = excluded.diversity,
		duplicates = excluded.duplicates, ndb = excluded.ndb, precision = excluded.precision, d_fake_spread = excluded.d_fake_spread,
		liked_share = excluded.liked_share`,
		sn.RunID, sn.Step, sn.SWD, sn.SWDFloor, flag(sn.Checkpoint), now(), h.Level, h.Reason, h.Diversity, h.Duplicates, h.NDB, h.Precision, h.DFakeSpread, sn.LikedShare)
	return err
}

// Snapshots lists a run's snapshots in step order.
func (s *Store) Snapshots(ctx context.Context, runID int64) ([]Snapshot, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT step, swd, swd_floor, checkpoint, created_at,
		health, health_reason, diversity, duplicates, ndb, precision, d_fake_spread, liked_share FROM snapshots WHERE run_id = $1 ORDER BY step`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		sn := Snapshot{RunID: runID}
		var c int64
		h := &sn.Health
		if err := rows.Scan(&sn.Step, &sn.SWD, &sn.SWDFloor, &sn.Checkpoint, &c,
			&h.Level, &h.Reason, &h.Diversity, &h.Duplicates, &h.NDB, &h.Precision, &h.DFakeSpread, &sn.LikedShare); err != nil {
			return nil, err
		}
		sn.Created = Time(c)
		out = append(out, sn)
	}
	return out, rows.Err()
}

// DropCheckpointFlag records that the checkpoint of a snapshot was deleted.
func (s *Store) DropCheckpointFlag(ctx context.Context, runID int64, step int) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE snapshots SET checkpoint = 0 WHERE run_id = $1 AND step = $2`, runID, step)
	return err
}

// AddSnapshotCheckpoint marks the snapshot at step (if any) as having a
// checkpoint.
func (s *Store) AddSnapshotCheckpoint(ctx context.Context, runID int64, step int) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE snapshots SET checkpoint = 1 WHERE run_id = $1 AND step = $2`, runID, step)
	return err
}

// BestStep is the step of the run's best quality (lowest SWD) among the
// snapshots whose checkpoint is kept; ok false when no such snapshot was
// measured. Training keeps that checkpoint (jobs), so "generate" and
// downloads can default to it.
func (s *Store) BestStep(ctx context.Context, runID int64) (step int, swd float64, ok bool, err error) {
	err = s.DB.QueryRowContext(ctx, `SELECT step, swd FROM snapshots WHERE run_id = $1 AND swd >= 0 AND checkpoint = 1
		ORDER BY swd, step LIMIT 1`, runID).Scan(&step, &swd)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("best step of run %d: %w", runID, err)
	}
	return step, swd, true, nil
}
