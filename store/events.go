package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// Event kinds.
const (
	EventInfo     = "info"
	EventResumed  = "resumed"
	EventError    = "error"
	EventHealth   = "health"   // the collapse monitor's judgement changed
	EventRepair   = "repair"   // a rollback and remedy, or giving up on them
	EventFeedback = "feedback" // ratings started to steer training, or a rating model joined in
)

// Event is something that happened to a run, in words.
type Event struct {
	ID      int64     `json:"id"`
	RunID   int64     `json:"run_id"`
	Step    int       `json:"step"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Created time.Time `json:"created"`
}

// AddEvent records an event.
func (s *Store) AddEvent(ctx context.Context, runID int64, step int, kind, msg string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO events (run_id, step, kind, message, created_at) VALUES ($1, $2, $3, $4, $5)`,
		runID, step, kind, msg, now())
	return err
}

// Events lists a run's events, newest first.
func (s *Store) Events(ctx context.Context, runID int64, limit int) ([]Event, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, step, kind, message, created_at FROM events WHERE run_id = $1
		ORDER BY id DESC LIMIT $2`, runID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{RunID: runID}
		var c int64
		if err := rows.Scan(&e.ID, &e.Step, &e.Kind, &e.Message, &c); err != nil {
			return nil, err
		}
		e.Created = Time(c)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Worker is a process that trains runs.
type Worker struct {
	ID     string
	Host   string
	Device string
	// Proc names the process namespace (machine boot and pid namespace):
	// only workers with the same Proc can check each other's PID.
	Proc    string
	PID     int
	Started time.Time
	Seen    time.Time
}

// Heartbeat records that a worker is alive.
func (s *Store) Heartbeat(ctx context.Context, w Worker) error {
	t := now()
	_, err := s.DB.ExecContext(ctx, `INSERT INTO workers (id, host, device, proc, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, w.ID, w.Host, w.Device, w.Proc, w.PID, t, t)
	return err
}

// RemoveWorker forgets a worker that stopped cleanly.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM workers WHERE id = $1`, id)
	return err
}

// Workers lists workers seen since.
func (s *Store) Workers(ctx context.Context, since time.Time) ([]Worker, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, host, device, proc, pid, started_at, seen_at FROM workers WHERE seen_at >= $1 ORDER BY started_at`,
		since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Worker
	for rows.Next() {
		var w Worker
		var st, se int64
		if err := rows.Scan(&w.ID, &w.Host, &w.Device, &w.Proc, &w.PID, &st, &se); err != nil {
			return nil, err
		}
		w.Started, w.Seen = Time(st), Time(se)
		out = append(out, w)
	}
	return out, rows.Err()
}

// WorkerDevices lists the devices other than the CPU of the workers seen
// since (each once, sorted): the devices a new run may ask for besides the
// CPU, which every studio can train on.
func (s *Store) WorkerDevices(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT device FROM workers WHERE seen_at >= $1 AND device != $2 ORDER BY device`,
		since.UnixMilli(), spec.CPU)
	if err != nil {
		return nil, fmt.Errorf("worker devices: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("worker devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
