package store

import (
	"context"
	"time"
)

// Snapshot is what a run kept at one step: a grid, figures, maybe a checkpoint.
type Snapshot struct {
	RunID      int64     `json:"-"`
	Step       int       `json:"step"`
	SWD        float64   `json:"swd"`       // quality, lower is better; -1 if not measured
	SWDFloor   float64   `json:"swd_floor"` // the same figure between real images
	Checkpoint bool      `json:"checkpoint"`
	Created    time.Time `json:"created"`
}

// AddSnapshot records (or replaces) the snapshot at its step.
func (s *Store) AddSnapshot(ctx context.Context, sn Snapshot) error {
	_, err := s.DB.ExecContext(ctx, `INSERT OR REPLACE INTO snapshots (run_id, step, swd, swd_floor, checkpoint, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, sn.RunID, sn.Step, sn.SWD, sn.SWDFloor, sn.Checkpoint, now())
	return err
}

// Snapshots lists a run's snapshots in step order.
func (s *Store) Snapshots(ctx context.Context, runID int64) ([]Snapshot, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT step, swd, swd_floor, checkpoint, created_at FROM snapshots
		WHERE run_id = ? ORDER BY step`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		sn := Snapshot{RunID: runID}
		var c int64
		if err := rows.Scan(&sn.Step, &sn.SWD, &sn.SWDFloor, &sn.Checkpoint, &c); err != nil {
			return nil, err
		}
		sn.Created = Time(c)
		out = append(out, sn)
	}
	return out, rows.Err()
}

// DropCheckpointFlag records that the checkpoint of a snapshot was deleted.
func (s *Store) DropCheckpointFlag(ctx context.Context, runID int64, step int) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE snapshots SET checkpoint = 0 WHERE run_id = ? AND step = ?`, runID, step)
	return err
}

// AddSnapshotCheckpoint marks the snapshot at step (if any) as having a
// checkpoint.
func (s *Store) AddSnapshotCheckpoint(ctx context.Context, runID int64, step int) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE snapshots SET checkpoint = 1 WHERE run_id = ? AND step = ?`, runID, step)
	return err
}
