package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// Run states.
const (
	Queued    = "queued"
	Running   = "running"
	Paused    = "paused"
	Done      = "done"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Requests a running run's worker acts on between steps.
const (
	ControlPause  = "pause"
	ControlCancel = "cancel"
)

// ErrState is returned for an action the run's state does not allow.
var ErrState = errors.New("not possible in this state")

// RunConfig is everything a run is started with.
type RunConfig struct {
	spec.Config
	SnapshotEvery  int     `json:"snapshot_every"`  // grid, samples and checkpoint every N steps
	EvalEvery      int     `json:"eval_every"`      // SWD quality every N steps (0: never)
	KeepEvery      int     `json:"keep_every"`      // keep the checkpoint of every N-th step for later sampling
	FeedbackWeight float64 `json:"feedback_weight"` // how much ratings steer training (0: not at all)
	// Policy is what the run does about mode collapse; runs made before
	// there was one have the zero value and get gan.DefaultPolicy.
	Policy spec.Policy `json:"policy"`
	// StopWhenStale ends the run once its quality has not improved for
	// gan.DefaultPatience steps.
	StopWhenStale bool `json:"stop_when_stale,omitempty"`
}

// CollapsePolicy is the run's policy, the default for runs without one.
func (c RunConfig) CollapsePolicy() spec.Policy {
	if c.Policy.Mode == "" {
		return spec.DefaultPolicy()
	}
	return c.Policy
}

// Run is one training run.
type Run struct {
	ID        int64
	DatasetID int64
	Config    RunConfig
	Steps     int
	State     string
	Control   string
	Step      int
	CkptStep  int // step of the latest checkpoint, -1 if none
	JobID     int64
	WorkerID  string
	Device    string  // what the run trains on (spec.CPU, "cuda"): only a worker for it takes the run
	Rate      float64 // steps per second lately
	Error     string
	Created   time.Time
	Started   time.Time
	Finished  time.Time
	Updated   time.Time
	// Guard is the state of the run's collapse guard (zero before the
	// first judged check).
	Guard spec.Guard
	// Feedback is what training made of the run's ratings.
	Feedback FeedbackStatus
}

// Terminal reports whether the run has stopped for good.
func (r *Run) Terminal() bool { return r.State == Done || r.State == Failed || r.State == Cancelled }

// ETA estimates the time left from the recent rate (0 if unknown).
func (r *Run) ETA() time.Duration {
	if r.State != Running || r.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(r.Steps-r.Step) / r.Rate * float64(time.Second)).Round(time.Second)
}

const runCols = `id, dataset_id, config, steps, state, control, step, ckpt_step, job_id, worker_id, device, rate, error,
	created_at, started_at, finished_at, updated_at, guard, feedback`

func scanRun(sc interface{ Scan(...any) error }) (*Run, error) {
	var r Run
	var cfg, guard, fb string
	var c, s, f, u int64
	err := sc.Scan(&r.ID, &r.DatasetID, &cfg, &r.Steps, &r.State, &r.Control, &r.Step, &r.CkptStep, &r.JobID,
		&r.WorkerID, &r.Device, &r.Rate, &r.Error, &c, &s, &f, &u, &guard, &fb)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(cfg), &r.Config); err != nil {
		return nil, fmt.Errorf("run %d config: %w", r.ID, err)
	}
	r.Guard.P = r.Config.CollapsePolicy()
	if err := unmarshalIfSet(guard, &r.Guard); err != nil {
		return nil, fmt.Errorf("run %d collapse guard: %w", r.ID, err)
	}
	r.Feedback = FeedbackStatus{Since: -1, Weight: r.Config.FeedbackWeight}
	if err := unmarshalIfSet(fb, &r.Feedback); err != nil {
		return nil, fmt.Errorf("run %d feedback status: %w", r.ID, err)
	}
	r.Created, r.Started, r.Finished, r.Updated = Time(c), Time(s), Time(f), Time(u)
	return &r, nil
}

// unmarshalIfSet reads a run's JSON column into v; an empty column (a run
// from before the column, or with nothing saved yet) leaves v as it is.
func unmarshalIfSet(col string, v any) error {
	if col == "" {
		return nil
	}
	return json.Unmarshal([]byte(col), v)
}

// saveRunJSON writes v as JSON into one of the runs table's JSON columns
// (guard, feedback: names from this package, never from input).
func (s *Store) saveRunJSON(ctx context.Context, runID int64, col string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.DB.ExecContext(ctx, `UPDATE runs SET `+col+` = $1 WHERE id = $2`, string(b), runID)
	return err
}

// InsertRun records a new queued run in tx, so the caller can enqueue its
// job in the same transaction.
func (s *Store) InsertRun(ctx context.Context, tx *sql.Tx, r *Run) error {
	cfg, err := json.Marshal(r.Config)
	if err != nil {
		return err
	}
	if r.Device == "" {
		r.Device = spec.CPU
	}
	t := now()
	err = tx.QueryRowContext(ctx, `INSERT INTO runs (dataset_id, config, steps, state, device, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.DatasetID, string(cfg), r.Steps, Queued, r.Device, t, t).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	r.State, r.CkptStep, r.Created, r.Updated = Queued, -1, Time(t), Time(t)
	return nil
}

// SetJob records the job that will train the run.
func (s *Store) SetJob(ctx context.Context, tx *sql.Tx, runID, jobID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE runs SET job_id = $1 WHERE id = $2`, jobID, runID)
	return err
}

// Run returns one run.
func (s *Store) Run(ctx context.Context, id int64) (*Run, error) {
	r, err := scanRun(s.DB.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id))
	if err != nil {
		return nil, notFound("run", id, err)
	}
	return r, nil
}

// Runs lists runs, newest first.
func (s *Store) Runs(ctx context.Context) ([]*Run, error) {
	return s.queryRuns(ctx, `SELECT `+runCols+` FROM runs ORDER BY id DESC`)
}

func (s *Store) queryRuns(ctx context.Context, q string, args ...any) ([]*Run, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Claim makes workerID the run's trainer if the run is queued for this job
// and is for the worker's device. A job that lost its run (cancelled, or
// re-enqueued after a crash) or that names a run for another device gets
// ok == false and should do nothing (see Reroute for the second).
func (s *Store) Claim(ctx context.Context, runID, jobID int64, workerID, device string) (*Run, bool, error) {
	t := now()
	res, err := s.DB.ExecContext(ctx, `UPDATE runs SET state = $1, control = '', error = '', worker_id = $2,
		started_at = CASE started_at WHEN 0 THEN $3 ELSE started_at END, rate = 0, updated_at = $4
		WHERE id = $5 AND job_id = $6 AND state = $7 AND device = $8`, Running, workerID, t, t, runID, jobID, Queued, device)
	if err != nil {
		return nil, false, fmt.Errorf("claim run %d: %w", runID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, false, nil
	}
	r, err := s.Run(ctx, runID)
	return r, err == nil, err
}

// Reroute gives a queued run a new job when its job reached a worker for
// another device (a job inserted on the wrong queue): enqueue inserts the
// job for the run's device in the same transaction. It returns the run's
// device, or "" when the run is not queued under jobID for a device other
// than device (cancelled meanwhile, already re-enqueued, or this worker's own).
func (s *Store) Reroute(ctx context.Context, runID, jobID int64, device string, enqueue func(tx *sql.Tx, device string) (int64, error)) (string, error) {
	var want string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT device FROM runs WHERE id = $1 AND job_id = $2 AND state = $3 AND device != $4`+s.forUpdate(),
			runID, jobID, Queued, device).Scan(&want)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		job, err := enqueue(tx, want)
		if err != nil {
			return err
		}
		return s.SetJob(ctx, tx, runID, job)
	})
	if err != nil {
		return "", fmt.Errorf("reroute run %d: %w", runID, err)
	}
	return want, nil
}

// ErrLost tells a worker that the run is no longer its own.
var ErrLost = errors.New("run was taken from this worker")

// Progress records steps trained by workerID and returns what the user has
// asked of the run since (ControlPause, ControlCancel or "").
func (s *Store) Progress(ctx context.Context, runID int64, workerID string, stats []spec.Stats, rate float64) (string, error) {
	var control string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		step := 0
		for _, st := range stats {
			if _, err := tx.ExecContext(ctx, `INSERT INTO metrics (run_id, step, loss_d, loss_g, d_real, d_fake, aug_p, r_t)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (run_id, step) DO UPDATE SET loss_d = excluded.loss_d,
				loss_g = excluded.loss_g, d_real = excluded.d_real, d_fake = excluded.d_fake, aug_p = excluded.aug_p, r_t = excluded.r_t`, runID, st.Step, finite(st.LossD), finite(st.LossG), finite(st.DReal), finite(st.DFake),
				finite(st.AugP), finite(st.RT)); err != nil {
				return err
			}
			step = st.Step
		}
		res, err := tx.ExecContext(ctx, `UPDATE runs SET step = CASE WHEN step > $1 THEN step ELSE $1 END, rate = $2, updated_at = $3
			WHERE id = $4 AND worker_id = $5 AND state = $6`, step, rate, now(), runID, workerID, Running)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrLost
		}
		return tx.QueryRowContext(ctx, `SELECT control FROM runs WHERE id = $1`, runID).Scan(&control)
	})
	if err != nil && !errors.Is(err, ErrLost) {
		err = fmt.Errorf("run %d progress: %w", runID, err)
	}
	return control, err
}

// finite keeps NaN and ±Inf (a diverged step) out of REAL columns, which
// would read back as NULL.
func finite(v float64) float64 {
	if v != v || v > 1e30 || v < -1e30 {
		return 1e30
	}
	return v
}

// SetCheckpoint records the step of the run's newest checkpoint.
func (s *Store) SetCheckpoint(ctx context.Context, runID int64, step int) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE runs SET ckpt_step = $1, updated_at = $2 WHERE id = $3`, step, now(), runID)
	return err
}

// Finish moves a run its worker holds to a final state, or to Paused or
// Queued (a worker shutting down hands the run back).
func (s *Store) Finish(ctx context.Context, runID int64, workerID, state, msg string) error {
	t := now()
	fin := int64(0)
	if state == Done || state == Failed || state == Cancelled {
		fin = t
	}
	_, err := s.DB.ExecContext(ctx, `UPDATE runs SET state = $1, control = '', error = $2, rate = 0, finished_at = $3,
		updated_at = $4 WHERE id = $5 AND worker_id = $6 AND state = $7`, state, msg, fin, t, runID, workerID, Running)
	return err
}

// Control asks for a pause or a cancel. A queued or paused run changes at
// once; a running one is told through its control column and changes when
// its worker next looks (within a step). It returns the state after.
func (s *Store) Control(ctx context.Context, runID int64, action string) (string, error) {
	var state string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE id = $1`+s.forUpdate(), runID).Scan(&state); err != nil {
			return notFound("run", runID, err)
		}
		var q string
		args := []any{runID, now()}
		switch {
		case state == Running:
			// A cancel already asked for outranks a later pause.
			q = `UPDATE runs SET control = $3, updated_at = $2 WHERE id = $1 AND NOT (control = 'cancel' AND $3 = 'pause')`
			args = append(args, action)
		case action == ControlCancel && (state == Queued || state == Paused):
			state = Cancelled
			q = `UPDATE runs SET state = 'cancelled', control = '', finished_at = $2, updated_at = $2 WHERE id = $1`
		case action == ControlPause && state == Queued:
			state = Paused
			q = `UPDATE runs SET state = 'paused', updated_at = $2 WHERE id = $1`
		case action == ControlPause && state == Paused:
			return nil // a double click
		default:
			return fmt.Errorf("cannot %s a %s run: %w", action, state, ErrState)
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	return state, err
}

// Requeue puts a paused run, or a running run whose worker died, back in
// the queue under the job that enqueue inserts in the same transaction.
// A dead worker's run with a pause or cancel pending goes straight to
// Paused or Cancelled instead. It returns the state after.
func (s *Store) Requeue(ctx context.Context, runID int64, from string, enqueue func(*sql.Tx) (int64, error)) (string, error) {
	state := Queued
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		var have, control string
		if err := tx.QueryRowContext(ctx, `SELECT state, control FROM runs WHERE id = $1`+s.forUpdate(), runID).Scan(&have, &control); err != nil {
			return notFound("run", runID, err)
		}
		if have != from {
			return fmt.Errorf("run %d is %s, not %s: %w", runID, have, from, ErrState)
		}
		if from == Running {
			state = afterControl(control, Queued)
		}
		fin := int64(0)
		if state == Cancelled {
			fin = now()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = $1, control = '', worker_id = '', rate = 0, finished_at = $2,
			updated_at = $3 WHERE id = $4`, state, fin, now(), runID); err != nil {
			return err
		}
		if state != Queued {
			return nil
		}
		job, err := enqueue(tx)
		if err != nil {
			return err
		}
		return s.SetJob(ctx, tx, runID, job)
	})
	return state, err
}

// afterControl is where a run stopped without its worker's say goes:
// a pending cancel or pause is honoured, else it goes to otherwise.
func afterControl(control, otherwise string) string {
	switch control {
	case ControlCancel:
		return Cancelled
	case ControlPause:
		return Paused
	}
	return otherwise
}

// Handback is a worker shutting down with the run (its checkpoint saved):
// the run goes back to the queue, or to Paused or Cancelled if the user
// asked for that meanwhile. It returns the state after.
func (s *Store) Handback(ctx context.Context, runID int64, workerID string) (string, error) {
	var state string
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		var control string
		err := tx.QueryRowContext(ctx, `SELECT control FROM runs WHERE id = $1 AND worker_id = $2 AND state = $3`+s.forUpdate(),
			runID, workerID, Running).Scan(&control)
		if err != nil {
			return notFound("running run", runID, err)
		}
		state = afterControl(control, Queued)
		fin := int64(0)
		if state == Cancelled {
			fin = now()
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET state = $1, control = '', rate = 0, finished_at = $2, updated_at = $3
			WHERE id = $4`, state, fin, now(), runID)
		return err
	})
	return state, err
}

// PauseIfAsked pauses a run its worker holds if the pause is still asked
// for (the user may have pressed Resume meanwhile).
func (s *Store) PauseIfAsked(ctx context.Context, runID int64, workerID string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE runs SET state = $1, control = '', rate = 0, updated_at = $2
		WHERE id = $3 AND worker_id = $4 AND state = $5 AND control = $6`, Paused, now(), runID, workerID, Running, ControlPause)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ClearPause withdraws a pause not yet acted on (the user pressed Resume
// before the worker got to it).
func (s *Store) ClearPause(ctx context.Context, runID int64) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE runs SET control = '' WHERE id = $1 AND state = $2 AND control = $3`,
		runID, Running, ControlPause)
	return err
}

// DeleteRun removes a run that is not training (done, failed, cancelled or
// paused) with everything it made: metrics, snapshots, samples, ratings,
// events, grids, checkpoints.
func (s *Store) DeleteRun(ctx context.Context, runID int64) error {
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE id = $1`+s.forUpdate(), runID).Scan(&state); err != nil {
			return notFound("run", runID, err)
		}
		if state == Running || state == Queued {
			return fmt.Errorf("run %d is %s: pause or cancel it first: %w", runID, state, ErrState)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = $1`, runID) // the rest cascades
		return err
	})
	if err != nil {
		return err
	}
	return s.Blobs.Delete(ctx, RunKey(runID))
}

// Jobless lists the queued runs that have no job (copied in by CopyTo).
func (s *Store) Jobless(ctx context.Context) ([]*Run, error) {
	return s.queryRuns(ctx, `SELECT `+runCols+` FROM runs WHERE state = $1 AND job_id = 0 ORDER BY id`, Queued)
}

// RunningOn lists the runs a worker holds as running.
func (s *Store) RunningOn(ctx context.Context, workerID string) ([]*Run, error) {
	return s.queryRuns(ctx, `SELECT `+runCols+` FROM runs WHERE state = $1 AND worker_id = $2`, Running, workerID)
}

// Orphans lists running runs whose worker has not been seen since before,
// or is one of dead (workers known to be gone).
func (s *Store) Orphans(ctx context.Context, before time.Time, dead []string) ([]*Run, error) {
	var p params
	q := `SELECT ` + runCols + ` FROM runs WHERE state = ` + p.add(Running) + ` AND (NOT EXISTS
		(SELECT 1 FROM workers w WHERE w.id = runs.worker_id AND w.seen_at >= ` + p.add(before.UnixMilli()) + `)`
	for _, d := range dead {
		q += ` OR worker_id = ` + p.add(d)
	}
	return s.queryRuns(ctx, q+`)`, p...)
}

// Metrics returns a run's per-step figures in step order.
func (s *Store) Metrics(ctx context.Context, runID int64) ([]spec.Stats, error) {
	return s.metrics(ctx, `SELECT step, loss_d, loss_g, d_real, d_fake, aug_p, r_t FROM metrics WHERE run_id = $1 ORDER BY step`, runID)
}

func (s *Store) metrics(ctx context.Context, q string, args ...any) ([]spec.Stats, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []spec.Stats
	for rows.Next() {
		var st spec.Stats
		if err := rows.Scan(&st.Step, &st.LossD, &st.LossG, &st.DReal, &st.DFake, &st.AugP, &st.RT); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
