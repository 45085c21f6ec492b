package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// ErrNoCheckpoint is returned for a rollback to a step with no checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint kept at that step")

// TrimAfter forgets what was recorded past step: a run resumed from the
// checkpoint at step trains those steps again. Samples drawn past it go too,
// unless someone rated them (they are the user's now, though no checkpoint
// can draw them again).
func (s *Store) TrimAfter(ctx context.Context, runID int64, step int) error {
	var gone []string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		gone, err = trim(ctx, tx, runID, step)
		return err
	})
	if err != nil {
		return err
	}
	s.deleteBlobs(ctx, gone)
	return nil
}

// trim deletes what lies past step in tx and returns the blob keys that go
// with it, to delete once the transaction has committed.
func trim(ctx context.Context, tx *sql.Tx, runID int64, step int) ([]string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM metrics WHERE run_id = $1 AND step > $2`, runID, step); err != nil {
		return nil, err
	}
	var gone []string
	// Checkpoints go whatever the flag says: one written just before a
	// crash may not have been flagged yet, and deleting a missing file is
	// no error.
	err := collect(ctx, tx, `DELETE FROM snapshots WHERE run_id = $1 AND step > $2 RETURNING step`,
		[]any{runID, step}, func(sc func(...any) error) error {
			var at int
			if err := sc(&at); err != nil {
				return err
			}
			gone = append(gone, GridKey(runID, at), CheckpointKey(runID, at))
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = collect(ctx, tx, `DELETE FROM samples WHERE run_id = $1 AND step > $2 AND rating = 0
		AND NOT EXISTS (SELECT 1 FROM ratings WHERE sample_id = samples.id) RETURNING id`,
		[]any{runID, step}, func(sc func(...any) error) error {
			var id int64
			if err := sc(&id); err != nil {
				return err
			}
			gone = append(gone, SampleKey(runID, id))
			return nil
		})
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE runs SET step = $1 WHERE id = $2`, step, runID)
	return gone, err
}

// collect runs a query and hands each row's Scan to fn.
func collect(ctx context.Context, tx *sql.Tx, q string, args []any, fn func(func(...any) error) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// deleteBlobs removes blobs whose records are gone. A blob left behind by
// a failure here costs space, not correctness: nothing refers to it.
func (s *Store) deleteBlobs(ctx context.Context, keys []string) {
	for _, k := range keys {
		s.Blobs.Delete(ctx, k)
	}
}

// SaveGuard records the state of a run's collapse guard.
func (s *Store) SaveGuard(ctx context.Context, runID int64, g spec.Guard) error {
	return s.saveRunJSON(ctx, runID, "guard", g)
}

// hasCheckpoint checks in tx that the snapshot at step kept its checkpoint.
func hasCheckpoint(ctx context.Context, tx *sql.Tx, runID int64, step int) error {
	var ok bool
	err := tx.QueryRowContext(ctx, `SELECT checkpoint FROM snapshots WHERE run_id = $1 AND step = $2`, runID, step).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !ok) {
		return fmt.Errorf("run %d, step %d: %w", runID, step, ErrNoCheckpoint)
	}
	return err
}

// RollbackTo is a worker that holds the run going back to the checkpoint
// at step (a collapse repair): what lies past it is forgotten and the
// guard's state saved, in one transaction.
func (s *Store) RollbackTo(ctx context.Context, runID int64, workerID string, step int, g spec.Guard) error {
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	var gone []string
	err = s.Tx(ctx, func(tx *sql.Tx) error {
		var holder string
		var ckpt int
		err := tx.QueryRowContext(ctx, `SELECT worker_id, ckpt_step FROM runs WHERE id = $1 AND state = $2`+s.forUpdate(), runID, Running).Scan(&holder, &ckpt)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && holder != workerID):
			return ErrLost
		case err != nil:
			return err
		}
		if err := hasCheckpoint(ctx, tx, runID, step); err != nil {
			return err
		}
		if gone, err = trim(ctx, tx, runID, step); err != nil {
			return err
		}
		if ckpt > step {
			gone = append(gone, CheckpointKey(runID, ckpt))
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET ckpt_step = $1, guard = $2, updated_at = $3 WHERE id = $4`, step, string(b), now(), runID)
		return err
	})
	if err != nil {
		return err
	}
	s.deleteBlobs(ctx, gone)
	return nil
}

// Rollback is the user taking a run that is not training back to the
// checkpoint at step. The run ends up paused there (Resume trains on from
// it); what lies past it is forgotten, except rated samples. The guard
// takes the chosen step as healthy and has its repairs back.
func (s *Store) Rollback(ctx context.Context, runID int64, step int) error {
	var gone []string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`+s.forUpdate(), runID))
		if err != nil {
			return notFound("run", runID, err)
		}
		if r.State == Running || r.State == Queued {
			return fmt.Errorf("run %d is %s: pause it first: %w", runID, r.State, ErrState)
		}
		if err := hasCheckpoint(ctx, tx, runID, step); err != nil {
			return err
		}
		if gone, err = trim(ctx, tx, runID, step); err != nil {
			return err
		}
		if r.CkptStep > step {
			gone = append(gone, CheckpointKey(runID, r.CkptStep))
		}
		g := r.Guard
		// The guard's old way back is not needed any more, unless it is
		// kept for sampling.
		if old := g.LastHealthy; old < step && (r.Config.KeepEvery <= 0 || old%r.Config.KeepEvery != 0) {
			if _, err := tx.ExecContext(ctx, `UPDATE snapshots SET checkpoint = 0 WHERE run_id = $1 AND step = $2`, runID, old); err != nil {
				return err
			}
			gone = append(gone, CheckpointKey(runID, old))
		}
		g.LastHealthy, g.Streak, g.Tries, g.GaveUp = step, 0, 0, false
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET state = $1, control = '', ckpt_step = $2, error = '', finished_at = 0,
			guard = $3, updated_at = $4 WHERE id = $5`, Paused, step, string(b), now(), runID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO events (run_id, step, kind, message, created_at) VALUES ($1, $2, $3, $4, $5)`,
			runID, step, EventRepair, fmt.Sprintf("Rolled back by hand from step %d to step %d; press Resume to train on from there.", r.Step, step), now())
		return err
	})
	if err != nil {
		return err
	}
	s.deleteBlobs(ctx, gone)
	return nil
}
