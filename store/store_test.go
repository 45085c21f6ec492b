package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/proc"
	"github.com/ganstudio/ganstudio/internal/storetest"
)

// testConfig is the studio in dir on the backend the tests run against
// (see storetest).
func testConfig(t testing.TB, dir string) Config {
	t.Helper()
	db, blobs := storetest.Config(t, dir)
	return Config{Dir: dir, Database: db, Blobs: blobs}
}

// undoAccounts undoes migration 0007, for tests that take a database back
// to an older schema.
var undoAccounts = []string{`DROP TABLE audit`, `DROP TABLE signin_failures`, `DROP TABLE tokens`, `DROP TABLE sessions`, `DROP TABLE users`}

// setSchemaVersion makes the database say it is at schema version n, as
// one made by an older (or newer) build would.
func setSchemaVersion(t *testing.T, s *Store, n int) {
	t.Helper()
	q := fmt.Sprintf(`PRAGMA user_version = %d`, n)
	if s.Postgres() {
		q = fmt.Sprintf(`UPDATE ganstudio_schema SET version = %d`, n)
	}
	if _, err := s.DB.Exec(q); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenConfig(context.Background(), testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRun(t *testing.T, s *Store, datasetID int64) *Run {
	t.Helper()
	ctx := context.Background()
	r := &Run{DatasetID: datasetID, Steps: 10, Config: RunConfig{Config: spec.DefaultConfig(), SnapshotEvery: 5}}
	err := s.Tx(ctx, func(tx *sql.Tx) error { return s.InsertRun(ctx, tx, r) })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	d := &Dataset{Name: "cats", Res: 64, Count: 2, Report: ImportReport{Files: 3, Skipped: []SkippedFile{{"x.txt", "not an image"}}}}
	if err := s.CreateDataset(ctx, d, func(w io.Writer) error { _, err := w.Write([]byte("sheet")); return err }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, dir) // migrations must not run twice
	got, err := s2.Dataset(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "cats" || got.Report.Skipped[0].Reason != "not an image" {
		t.Errorf("reopened dataset %+v", got)
	}
	rc, err := s2.OpenDataset(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "sheet" {
		t.Errorf("blob %q", b)
	}
}

func TestFailedDatasetLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	d := &Dataset{Name: "broken", Res: 64, Count: 1}
	err := s.CreateDataset(ctx, d, func(w io.Writer) error { w.Write([]byte("half")); return errors.New("disk full") })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the write's error", err)
	}
	if list, _ := s.Datasets(ctx); len(list) != 0 {
		t.Errorf("%d datasets recorded after a failed save", len(list))
	}
	files, _ := s.Blobs.List(context.Background(), "datasets/")
	if len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
}

func TestDeleteDatasetInUse(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "cats", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, func(w io.Writer) error { return nil })
	b, _ := s.EnsureBuiltin(ctx, "emoji", 64, 110)
	if again, _ := s.EnsureBuiltin(ctx, "emoji", 64, 110); again.ID != b.ID {
		t.Errorf("built-in recorded twice")
	}
	r := newRun(t, s, d.ID)
	if err := s.DeleteDataset(ctx, d.ID); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "run 1") {
		t.Errorf("deleting a dataset in use: %v", err)
	}
	if err := s.DeleteDataset(ctx, b.ID); !errors.Is(err, ErrInUse) {
		t.Errorf("deleting a built-in: %v", err)
	}
	_ = r
	if err := s.DeleteDataset(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting an unknown dataset: %v", err)
	}
}

func TestControlTransitions(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	cases := []struct {
		from, action, want string
		ok                 bool
	}{
		{Queued, ControlPause, Paused, true},
		{Queued, ControlCancel, Cancelled, true},
		{Paused, ControlPause, Paused, true}, // a double click
		{Paused, ControlCancel, Cancelled, true},
		{Running, ControlPause, Running, true}, // the worker acts on it
		{Done, ControlPause, Done, false},
		{Cancelled, ControlCancel, Cancelled, false},
	}
	for _, c := range cases {
		r := newRun(t, s, d.ID)
		s.DB.Exec(`UPDATE runs SET state = $1 WHERE id = $2`, c.from, r.ID)
		got, err := s.Control(ctx, r.ID, c.action)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("%s a %s run: %q, %v; want %q (ok %v)", c.action, c.from, got, err, c.want, c.ok)
		}
		if c.from == Running {
			rr, _ := s.Run(ctx, r.ID)
			if rr.Control != c.action {
				t.Errorf("running run's control is %q, want %q", rr.Control, c.action)
			}
		}
	}
}

func TestClaimProgressAndOrphans(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	s.Tx(ctx, func(tx *sql.Tx) error { return s.SetJob(ctx, tx, r.ID, 7) })
	if _, ok, _ := s.Claim(ctx, r.ID, 8, "w1", "cpu"); ok {
		t.Error("a job that is not the run's claimed it")
	}
	if _, ok, err := s.Claim(ctx, r.ID, 7, "w1", "cpu"); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, ok, _ := s.Claim(ctx, r.ID, 7, "w2", "cpu"); ok {
		t.Error("a running run was claimed twice")
	}
	s.Heartbeat(ctx, Worker{ID: "w1", Device: "cpu"})
	if _, err := s.Progress(ctx, r.ID, "w1", []spec.Stats{{Step: 1, LossD: 1}, {Step: 2, LossD: 0.9}}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Progress(ctx, r.ID, "w2", []spec.Stats{{Step: 3}}, 2); !errors.Is(err, ErrLost) {
		t.Errorf("progress from a worker that does not hold the run: %v", err)
	}
	if o, _ := s.Orphans(ctx, time.Now().Add(-time.Minute), nil); len(o) != 0 {
		t.Errorf("a run with a live worker is an orphan")
	}
	if o, _ := s.Orphans(ctx, time.Now().Add(time.Minute), nil); len(o) != 1 {
		t.Errorf("a run whose worker went quiet is not an orphan")
	}
	if o, _ := s.Orphans(ctx, time.Now().Add(-time.Minute), []string{"w1"}); len(o) != 1 {
		t.Errorf("a run whose worker is known dead is not an orphan")
	}
	ms, _ := s.Metrics(ctx, r.ID)
	if len(ms) != 2 || ms[1].LossD != 0.9 {
		t.Errorf("metrics %+v", ms)
	}
	if err := s.TrimAfter(ctx, r.ID, 1); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.Metrics(ctx, r.ID); len(ms) != 1 {
		t.Errorf("%d metrics after trimming to step 1", len(ms))
	}
}

func TestSamplesAndRatings(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	lat := [][]float32{{1, 2}, {3, 4}, {5, 6}}
	got, err := s.AddSamples(ctx, r.ID, 5, OriginSnapshot, lat, func(i int, w io.Writer) error { _, err := w.Write([]byte{byte(i)}); return err })
	if err != nil || len(got) != 3 {
		t.Fatal(err)
	}
	sm, _ := s.Sample(ctx, got[1].ID)
	if sm.Latent[1] != 4 {
		t.Errorf("latent %v", sm.Latent)
	}
	for _, v := range []int{1, -1, 1} {
		if _, err := s.Rate(ctx, got[0].ID, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Rate(ctx, got[0].ID, 3); err == nil {
		t.Error("rating 3 was accepted")
	}
	if _, err := s.Rate(ctx, 999, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("rating an unknown sample: %v", err)
	}
	s.Rate(ctx, got[2].ID, -1)
	liked, disliked, _ := s.RatingCounts(ctx, r.ID)
	if liked != 1 || disliked != 1 {
		t.Errorf("liked %d, disliked %d; want 1 and 1 (latest rating counts)", liked, disliked)
	}
	// Rated samples come in the order of their latest ratings: sample 0
	// was rated first, sample 2 next; rating 0 again puts it last.
	v0, _ := s.RatingsVersion(ctx, r.ID)
	s.Rate(ctx, got[0].ID, 1)
	rated, err := s.RatedSamples(ctx, r.ID)
	if err != nil || len(rated) != 2 || rated[0].ID != got[2].ID || rated[1].ID != got[0].ID {
		t.Errorf("rated samples %v, %v; want samples 2 then 0", rated, err)
	}
	if v1, _ := s.RatingsVersion(ctx, r.ID); v1 <= v0 {
		t.Errorf("ratings version %d after a new rating, %d before", v1, v0)
	}
	var n int
	s.DB.QueryRow(`SELECT COUNT(*) FROM ratings`).Scan(&n)
	if n != 5 {
		t.Errorf("%d ratings kept, want all 5", n)
	}
	one := 1
	list, total, _ := s.Samples(ctx, SampleQuery{RunID: r.ID, Step: -1, Rating: &one})
	if total != 1 || list[0].ID != got[0].ID {
		t.Errorf("liked filter: %d", total)
	}
	list, _, _ = s.Samples(ctx, SampleQuery{RunID: r.ID, Step: -1, IDs: []int64{got[1].ID, got[2].ID}})
	if len(list) != 2 {
		t.Errorf("id filter: %d", len(list))
	}
	// A failing PNG write leaves no sample rows and no files.
	_, err = s.AddSamples(ctx, r.ID, 6, OriginSnapshot, lat, func(i int, w io.Writer) error {
		if i == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil {
		t.Fatal("want the write's error")
	}
	if _, total, _ := s.Samples(ctx, SampleQuery{RunID: r.ID, Step: 6}); total != 0 {
		t.Errorf("%d samples saved from a failed batch", total)
	}
	files, _ := s.Blobs.List(ctx, RunKey(r.ID)+"samples/")
	if len(files) != 3 {
		t.Errorf("%d sample files, want the first batch's 3", len(files))
	}
}

func TestConcurrentOpen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	errs := make(chan error, 4)
	stores := make(chan *Store, 4)
	cfg := testConfig(t, dir)
	for i := 0; i < 4; i++ { // serve and workers starting together on a new folder
		go func() {
			s, err := OpenConfig(ctx, cfg)
			if err == nil {
				_, err = s.EnsureBuiltin(ctx, "emoji", 64, 110)
				stores <- s
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	close(stores)
	for s := range stores {
		defer s.Close()
	}
	s := open(t, dir)
	list, _ := s.Datasets(ctx)
	if len(list) != 1 {
		t.Errorf("%d datasets, want the built-in once", len(list))
	}
}

func TestDatasetListedOnlyWhenComplete(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "big", Res: 64, Count: 1}
	err := s.CreateDataset(ctx, d, func(w io.Writer) error {
		// While the sheet is being written the dataset is not visible,
		// and the database is free for others (training records progress).
		if list, _ := s.Datasets(ctx); len(list) != 0 {
			t.Errorf("a dataset being written is listed")
		}
		_, err := s.DB.ExecContext(ctx, `INSERT INTO workers (id, host, device, started_at, seen_at) VALUES ('w', 'h', 'cpu', 0, 0)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Datasets(ctx); len(list) != 1 {
		t.Errorf("the finished dataset is not listed")
	}
}

func TestPendingControlSurvivesHandbackAndReap(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	noJob := func(*sql.Tx) (int64, error) {
		t.Error("a run with a pending cancel or pause was enqueued")
		return 0, nil
	}
	cases := []struct {
		asks []string
		want string
	}{
		{[]string{ControlCancel, ControlPause}, Cancelled}, // cancel outranks a later pause
		{[]string{ControlPause}, Paused},
	}
	for _, c := range cases {
		for _, via := range []string{"handback", "reap"} {
			r := newRun(t, s, d.ID)
			s.DB.Exec(`UPDATE runs SET state = 'running', worker_id = 'w1' WHERE id = $1`, r.ID)
			for _, a := range c.asks {
				s.Control(ctx, r.ID, a)
			}
			var got string
			var err error
			if via == "handback" {
				got, err = s.Handback(ctx, r.ID, "w1")
			} else {
				got, err = s.Requeue(ctx, r.ID, Running, noJob)
			}
			if err != nil || got != c.want {
				t.Errorf("%v then %s: %s, %v; want %s", c.asks, via, got, err, c.want)
			}
		}
	}
}

func TestUnfinishedImportsSweptAndNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	me := proc.Self()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := proc.Owner{Proc: me.Proc, PID: cmd.Process.Pid, Life: "ab"}
	foreign := proc.Owner{Proc: "elsewhere/boot/pid:[1]", PID: 7, Life: "cd"}
	old, recent := time.Now().Add(-2*foreignAge).UnixMilli(), time.Now().UnixMilli()
	cases := []struct {
		name    string
		owner   string
		created int64
		swept   bool
	}{
		{"killed just now", dead.String(), recent, true},
		{"an earlier life of this pid", proc.Owner{Proc: me.Proc, PID: me.PID, Life: "0000"}.String(), recent, true},
		{"going on in this process", me.String(), recent, false},
		{"going on on another machine", foreign.String(), recent, false},
		{"another machine's, long ago", foreign.String(), old, true},
		{"from a build that kept no owner, long ago", "", old, true},
		{"from a build that kept no owner, recent", "", recent, false},
	}
	ids := make([]int64, len(cases))
	for i, c := range cases {
		err := s.DB.QueryRow(`INSERT INTO datasets (name, res, count, ready, owner, created_at) VALUES ($1, 64, 1, 0, $2, $3) RETURNING id`,
			c.name, c.owner, c.created).Scan(&ids[i])
		if err != nil {
			t.Fatal(err)
		}
		s.Blobs.Put(ctx, DatasetKey(ids[i]), func(w io.Writer) error { _, err := w.Write([]byte("half")); return err })
	}
	s.Close()

	s = open(t, dir)
	if s.Swept.Datasets != 4 {
		t.Errorf("Swept.Datasets = %d, want 4", s.Swept.Datasets)
	}
	for i, c := range cases {
		var n int
		s.DB.QueryRow(`SELECT COUNT(*) FROM datasets WHERE id = $1`, ids[i]).Scan(&n)
		_, err := s.Blobs.Open(ctx, DatasetKey(ids[i]))
		if swept := n == 0; swept != c.swept || swept != errors.Is(err, ErrNotFound) {
			t.Errorf("%s: row kept %v, file %v; want swept %v", c.name, n == 1, err, c.swept)
		}
	}
	setSchemaVersion(t, s, 99)
	s.Close()
	if _, err := OpenConfig(ctx, testConfig(t, dir)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("opening a newer schema: %v", err)
	}
}

func TestPauseWithdrawn(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	s.DB.Exec(`UPDATE runs SET state = 'running', worker_id = 'w1' WHERE id = $1`, r.ID)
	s.Control(ctx, r.ID, ControlPause)
	s.ClearPause(ctx, r.ID) // Resume pressed before the worker acted
	if paused, err := s.PauseIfAsked(ctx, r.ID, "w1"); paused || err != nil {
		t.Errorf("a withdrawn pause paused the run (%v)", err)
	}
	s.Control(ctx, r.ID, ControlPause)
	if paused, err := s.PauseIfAsked(ctx, r.ID, "w1"); !paused || err != nil {
		t.Errorf("a pause still asked for did not pause the run (%v)", err)
	}
}

func TestDeleteRun(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	if err := s.DeleteRun(ctx, r.ID); !errors.Is(err, ErrState) {
		t.Errorf("deleting a queued run: %v", err)
	}
	s.DB.Exec(`UPDATE runs SET state = 'done' WHERE id = $1`, r.ID)
	s.Progress(ctx, r.ID, "", nil, 0)
	s.DB.Exec(`INSERT INTO metrics (run_id, step, loss_d, loss_g, d_real, d_fake) VALUES ($1, 1, 1, 1, 1, 1)`, r.ID)
	s.AddEvent(ctx, r.ID, 1, EventInfo, "x")
	got, _ := s.AddSamples(ctx, r.ID, 1, OriginFinal, [][]float32{{1}}, func(int, io.Writer) error { return nil })
	s.Rate(ctx, got[0].ID, 1)
	s.Blobs.Put(ctx, GridKey(r.ID, 1), func(w io.Writer) error { return nil })
	if err := s.DeleteRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"runs", "metrics", "events", "samples", "ratings", "snapshots"} {
		var n int
		s.DB.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n)
		if n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "blobs", "runs", fmt.Sprint(r.ID))); !os.IsNotExist(err) {
		t.Errorf("the run's files are still there: %v", err)
	}
	if err := s.DeleteRun(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting it again: %v", err)
	}
}

// The best step is the lowest SWD among snapshots whose checkpoint is
// kept: not one whose checkpoint went, not one never measured.
func TestBestStep(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 32, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	if _, _, ok, err := s.BestStep(ctx, r.ID); ok || err != nil {
		t.Fatalf("a run without snapshots has a best step (%v, %v)", ok, err)
	}
	for _, sn := range []Snapshot{
		{Step: 0, SWD: 140, Checkpoint: true},
		{Step: 500, SWD: 40, Checkpoint: false}, // its checkpoint was dropped
		{Step: 1000, SWD: 45, Checkpoint: true},
		{Step: 1500, SWD: -1, Checkpoint: true}, // not measured
		{Step: 2000, SWD: 60, Checkpoint: true},
	} {
		sn.RunID, sn.Health = r.ID, NoHealth
		if err := s.AddSnapshot(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	step, swd, ok, err := s.BestStep(ctx, r.ID)
	if err != nil || !ok || step != 1000 || swd != 45 {
		t.Fatalf("best step %d (SWD %g, %v, %v), want 1000 (45)", step, swd, ok, err)
	}
}
