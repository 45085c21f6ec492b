package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/proc"
	"github.com/ganstudio/ganstudio/store"
)

// TrainArgs is the job that trains one run from its latest checkpoint
// (or from scratch) until it is done, paused, cancelled or its worker stops.
type TrainArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind names the job for River.
func (TrainArgs) Kind() string { return "train_run" }

// DefaultStaleAfter is how long a worker may be silent before its runs are
// resumed by another: long enough for a stalled disk or a busy database.
const DefaultStaleAfter = 45 * time.Second

// Options tune a Queue.
type Options struct {
	// Work makes this process train runs; without it, it only enqueues.
	Work bool
	// Device is what this worker trains on (gan.CPU, the default, or
	// "cuda"): it works the River queue of that device alone.
	Device string
	// Heartbeat is how often the worker says it is alive; a running run
	// whose worker has been silent for StaleAfter is put back in the queue.
	Heartbeat  time.Duration
	StaleAfter time.Duration
	// FetchPoll is how often an idle worker looks for queued jobs.
	FetchPoll time.Duration
	Logger    *slog.Logger
}

func (o *Options) defaults() {
	if o.Device == "" {
		o.Device = spec.CPU
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	// Several heartbeats fit in the silence that marks a worker dead.
	o.Heartbeat = min(o.Heartbeat, o.StaleAfter/3)
	if o.FetchPoll <= 0 {
		o.FetchPoll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Queue enqueues runs and, if asked, works them.
type Queue struct {
	st       *store.Store
	client   *river.Client[*sql.Tx]
	opts     Options
	workerID string
	self     store.Worker
	log      *slog.Logger
	active   sync.Map // run id → struct{}: runs this process is training now

	dead   atomic.Bool // set by kill: write nothing more
	lost   chan error  // gets the error that lost this worker's device, once
	lostMu sync.Once
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// New migrates River's tables and makes a client.
func New(ctx context.Context, st *store.Store, opts Options) (*Queue, error) {
	opts.defaults()
	// Both drivers take the store's *sql.Tx, so a run and its job are
	// recorded in one transaction on either database. On Postgres River's
	// database/sql driver LISTENs through the pgx driver (riverpgxv5) on
	// the store's pgx pool: a job inserted by any process wakes a worker
	// at once. SQLite has no LISTEN/NOTIFY: workers poll.
	var driver riverdriver.Driver[*sql.Tx] = riversqlite.New(st.RiverDB)
	if st.Listener != nil {
		driver = riverdatabasesql.NewWithPgxListener(st.RiverDB, st.Listener)
	}
	mig, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	// Processes starting together on a new database migrate it one after
	// the other, not into each other.
	if st.Postgres() {
		err = st.SchemaLocked(ctx, func() error {
			_, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil)
			return err
		})
	} else {
		err = st.SchemaTx(ctx, func(tx *sql.Tx) error {
			_, err := mig.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	var b [6]byte
	rand.Read(b[:])
	q := &Queue{st: st, opts: opts, workerID: opts.Device + "-" + hex.EncodeToString(b[:]), log: opts.Logger, lost: make(chan error, 1)}
	host, _ := os.Hostname()
	q.self = store.Worker{ID: q.workerID, Host: host, Device: opts.Device, Proc: proc.Self().Proc, PID: os.Getpid()}
	workers := river.NewWorkers()
	river.AddWorker(workers, &trainWorker{q: q})
	cfg := &river.Config{
		Workers:           workers,
		PollOnly:          st.Listener == nil,
		FetchPollInterval: opts.FetchPoll,
		// Training runs for hours: no job timeout. River's own rescue of
		// stuck jobs is a backstop; heartbeats (reap) act much sooner, and
		// Claim makes a rescued duplicate a no-op.
		JobTimeout:           -1,
		RescueStuckJobsAfter: 6 * time.Hour,
		// River's own info lines (client started, job counts) are noise
		// beside the studio's; its warnings and errors still show.
		Logger: slog.New(warnOnly{opts.Logger.Handler()}).With("component", "river"),
		ID:     q.workerID,
	}
	if opts.Work {
		// One run at a time: a training step already uses every core (or
		// the whole GPU).
		cfg.Queues = map[string]river.QueueConfig{QueueFor(opts.Device): {MaxWorkers: 1}}
	}
	if q.client, err = river.NewClient(driver, cfg); err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return q, nil
}

// QueueFor is the River queue of a device's runs. CPU runs stay on River's
// default queue, where every job went before runs had devices, so jobs
// queued by an older studio are still worked.
func QueueFor(device string) string {
	if device == "" || device == spec.CPU {
		return river.QueueDefault
	}
	return device
}

// StaleAfter is how long a worker may be silent before it counts as gone.
func (q *Queue) StaleAfter() time.Duration { return q.opts.StaleAfter }

// where names this worker for a run's events, with its GPU if it has one.
func (q *Queue) where() string {
	if info := gan.DeviceInfo(); info != "" {
		return q.workerID + " (" + info + ")"
	}
	return q.workerID
}

// Lost delivers the error that lost this worker's device (a GPU fault):
// the process can train nothing more and should stop (Stop) and exit, to
// be restarted; the run it was training is already back in the queue.
func (q *Queue) Lost() <-chan error { return q.lost }

func (q *Queue) lose(err error) {
	q.lostMu.Do(func() { q.lost <- err })
}

// WorkerID names this process in the workers table and on its runs.
func (q *Queue) WorkerID() string { return q.workerID }

// Start starts working jobs (with Options.Work), heartbeats and the reaper.
func (q *Queue) Start(ctx context.Context) error {
	if !q.opts.Work {
		return nil
	}
	if err := q.st.Heartbeat(ctx, q.self); err != nil {
		return fmt.Errorf("register worker: %w", err)
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.cancel = cancel
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		tick := time.NewTicker(q.opts.Heartbeat)
		defer tick.Stop()
		for {
			if err := q.st.Heartbeat(bg, q.self); err != nil && bg.Err() == nil {
				q.log.Warn("heartbeat", "err", err)
			}
			if err := q.Reap(bg); err != nil && bg.Err() == nil {
				q.log.Warn("reap", "err", err)
			}
			select {
			case <-bg.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return nil
}

// Stop stops working: a run in training saves a checkpoint and goes back
// to the queue, to be picked up by the next worker that starts.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.opts.Work {
		return nil
	}
	err := q.client.StopAndCancel(ctx)
	if q.cancel != nil {
		q.cancel()
	}
	q.wg.Wait()
	// A worker that handed every run back says it is gone (so the studio
	// counts as stopped at once, for ganstudio migrate). One still holding
	// a run (its hand-back failed) leaves its row: its heartbeats stop,
	// which is how the others know to resume the run.
	bg := context.WithoutCancel(ctx)
	if held, herr := q.st.RunningOn(bg, q.workerID); herr == nil && len(held) == 0 {
		q.st.RemoveWorker(bg, q.workerID)
	}
	return err
}

// kill stops like a killed process: the run's records are left as they
// were (state running, the worker's heartbeat going stale). Tests use it.
func (q *Queue) kill(ctx context.Context) {
	q.dead.Store(true)
	q.client.StopAndCancel(ctx)
	q.cancel()
	q.wg.Wait()
}

// CreateRun records a run and enqueues its job in one transaction.
func (q *Queue) CreateRun(ctx context.Context, r *store.Run) error {
	return q.st.Tx(ctx, func(tx *sql.Tx) error {
		if err := q.st.InsertRun(ctx, tx, r); err != nil {
			return err
		}
		job, err := q.insert(ctx, tx, r.ID, r.Device)
		if err != nil {
			return err
		}
		r.JobID = job
		return q.st.SetJob(ctx, tx, r.ID, job)
	})
}

// insert puts a train job for the run on its device's queue. Every train
// job is inserted here, so none can land on another device's queue.
func (q *Queue) insert(ctx context.Context, tx *sql.Tx, runID int64, device string) (int64, error) {
	job, err := q.client.InsertTx(ctx, tx, TrainArgs{RunID: runID}, &river.InsertOpts{Queue: QueueFor(device)})
	if err != nil {
		return 0, fmt.Errorf("enqueue run %d on queue %s: %w", runID, QueueFor(device), err)
	}
	return job.Job.ID, nil
}

func (q *Queue) enqueue(ctx context.Context, runID int64, device string) func(*sql.Tx) (int64, error) {
	return func(tx *sql.Tx) (int64, error) { return q.insert(ctx, tx, runID, device) }
}

// Resume puts a paused run back in the queue.
func (q *Queue) Resume(ctx context.Context, runID int64) error {
	r, err := q.st.Run(ctx, runID)
	if err != nil {
		return err
	}
	switch r.State {
	case store.Queued:
		return nil // a double click
	case store.Running:
		return q.st.ClearPause(ctx, runID) // pressed before the worker paused
	}
	if _, err := q.st.Requeue(ctx, runID, store.Paused, q.enqueue(ctx, runID, r.Device)); err != nil {
		return err
	}
	return q.st.AddEvent(ctx, runID, r.Step, store.EventInfo, "Resumed by the user; back in the queue.")
}

// EnqueueJobless gives each queued run without a job (one copied in from
// another studio by ganstudio migrate) a job on its device's queue, and
// says how many it gave.
func (q *Queue) EnqueueJobless(ctx context.Context) (int, error) {
	runs, err := q.st.Jobless(ctx)
	if err != nil {
		return 0, err
	}
	for i, r := range runs {
		if _, err := q.st.Requeue(ctx, r.ID, store.Queued, q.enqueue(ctx, r.ID, r.Device)); err != nil {
			return i, err
		}
	}
	return len(runs), nil
}

// Reap puts back in the queue every running run whose worker has stopped
// answering (killed, crashed, lost its machine), to resume from its last
// checkpoint.
func (q *Queue) Reap(ctx context.Context) error {
	dead, err := q.deadNeighbours(ctx)
	if err != nil {
		return err
	}
	orphans, err := q.st.Orphans(ctx, time.Now().Add(-q.opts.StaleAfter), dead)
	if err != nil {
		return err
	}
	// Runs this worker holds but does not train: its job ended without
	// recording how (the database was unreachable at that moment).
	mine, err := q.st.RunningOn(ctx, q.workerID)
	if err != nil {
		return err
	}
	for _, r := range mine {
		if _, training := q.active.Load(r.ID); !training {
			orphans = append(orphans, r)
		}
	}
	var errs []error
	for _, r := range orphans {
		state, err := q.st.Requeue(ctx, r.ID, store.Running, q.enqueue(ctx, r.ID, r.Device))
		if errors.Is(err, store.ErrState) {
			continue // its worker finished it meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var msg string
		switch state {
		case store.Queued:
			from := "from scratch"
			if r.CkptStep >= 0 {
				from = fmt.Sprintf("from its checkpoint at step %d", r.CkptStep)
			}
			msg = fmt.Sprintf("Worker %s stopped answering at step %d; the run is back in the queue and will resume %s.",
				r.WorkerID, r.Step, from)
		default:
			msg = fmt.Sprintf("Worker %s stopped answering at step %d; the run is now %s, as asked.", r.WorkerID, r.Step, state)
		}
		q.log.Info("reaped run", "run", r.ID, "worker", r.WorkerID, "step", r.Step, "state", state)
		errs = append(errs, q.st.AddEvent(ctx, r.ID, r.Step, store.EventResumed, msg))
	}
	return errors.Join(errs...)
}

// deadNeighbours lists workers in this process namespace whose process is
// gone: a studio restarted after a crash resumes their runs at once instead
// of waiting out StaleAfter. Workers in other containers or machines have
// another Proc; only their heartbeats tell.
func (q *Queue) deadNeighbours(ctx context.Context) ([]string, error) {
	if q.self.Proc == "" {
		return nil, nil
	}
	ws, err := q.st.Workers(ctx, time.Now().Add(-q.opts.StaleAfter))
	if err != nil {
		return nil, err
	}
	var dead []string
	for _, w := range ws {
		if w.ID == q.workerID || w.Proc != q.self.Proc || w.PID <= 0 {
			continue
		}
		// Our own pid under another worker id: that process was an earlier
		// life of this one (a container restarts with the same pid).
		// (So one process must not run two working queues.)
		if w.PID == os.Getpid() || proc.Exited(w.PID) {
			dead = append(dead, w.ID)
		}
	}
	return dead, nil
}

// warnOnly passes on records at warning level and above.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}
func (h warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(a)} }
func (h warnOnly) WithGroup(n string) slog.Handler      { return warnOnly{h.Handler.WithGroup(n)} }
