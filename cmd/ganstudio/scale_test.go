package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/internal/storetest"
	"github.com/ganstudio/ganstudio/internal/wait"
	"github.com/ganstudio/ganstudio/store"
)

// scaleStudio is a studio of processes that share nothing but a Postgres
// database and an S3 bucket: each has a local folder of its own.
type scaleStudio struct {
	t               *testing.T
	database, blobs string
	logs            map[string]*syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs `ganstudio ARGS…` as a process of its own on the studio, with
// an empty local folder; what it logs is kept under name (and shown if the
// test fails).
func (s *scaleStudio) start(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	args = append(args, "--data", s.t.TempDir(), "--database", s.database, "--blobs", s.blobs)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GANSTUDIO_AS_MAIN=1")
	buf := &syncBuffer{}
	s.logs[name] = buf
	cmd.Stderr = buf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if s.t.Failed() {
			s.t.Logf("--- %s's log:\n%s", name, buf.String())
		}
	})
	return cmd
}

// drill runs scripts/scale-env.sh's pg-stop, pg-start, s3-stop or s3-start.
func drill(t *testing.T, what string) {
	t.Helper()
	out, err := exec.Command(os.Getenv("GANSTUDIO_SCALE_ENV"), what).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pngs is a zip-free upload: n small PNGs of distinct colours.
func pngUpload(t *testing.T, n int) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", "uploaded during the outage")
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 40, 40))
		for p := range img.Pix {
			img.Pix[p] = uint8(p*7 + i*40)
		}
		img.Set(i, i, color.White)
		w, _ := mw.CreateFormFile("files", fmt.Sprintf("img%02d.png", i))
		png.Encode(w, img)
	}
	mw.Close()
	return &body, mw.FormDataContentType()
}

// TestScaleOutDrills is the scale-out mode end to end: one `serve` and two
// `worker` processes, each with its own empty local folder, sharing only
// Postgres and S3 (run under scripts/scale-env.sh). Two runs spread over
// the two workers; the live stream of a run trained elsewhere reaches the
// browser through serve; a worker killed with SIGKILL mid-run has its run
// resumed by the other from its last checkpoint; Postgres restarted and S3
// stopped mid-run hold training up without losing or half-writing any
// checkpoint, sample, grid or upload; the run then finishes.
func TestScaleOutDrills(t *testing.T) {
	database, blobs := storetest.Fresh(t, t.TempDir())
	if os.Getenv("GANSTUDIO_SCALE_ENV") == "" {
		t.Skip("run under scripts/scale-env.sh run: the drills stop and start its servers")
	}
	ctx := context.Background()
	s := &scaleStudio{t: t, database: database, blobs: blobs, logs: map[string]*syncBuffer{}}
	addr := freeAddr(t)
	base := "http://" + addr
	s.start("serve", "serve", "--addr", addr, "--no-worker")
	workers := map[string]*exec.Cmd{}
	for _, name := range []string{"worker-a", "worker-b"} {
		workers[name] = s.start(name, "worker", "--stale-after", "5s")
	}
	st, err := store.OpenConfig(ctx, store.Config{Dir: t.TempDir(), Database: database, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	api := func(method, path, ctype string, body io.Reader, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if out != nil && res.StatusCode < 300 {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
		if res.StatusCode >= 300 {
			t.Logf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		return res.StatusCode
	}
	var sets struct {
		Datasets []struct {
			ID      int64  `json:"id"`
			Builtin string `json:"builtin"`
		} `json:"datasets"`
	}
	wait.Until(t, time.Minute, "serve to answer", func() bool { return api("GET", "/api/datasets", "", nil, &sets) == 200 })
	var shapes int64
	for _, d := range sets.Datasets {
		if d.Builtin == "shapes" {
			shapes = d.ID
		}
	}
	newRun := func(steps int) int64 {
		var r struct {
			ID int64 `json:"id"`
		}
		body := fmt.Sprintf(`{"dataset_id": %d, "steps": %d, "res": 32, "width": 0.125, "batch": 8, "snapshot_every": 20, "augment": "off"}`, shapes, steps)
		if code := api("POST", "/api/runs", "application/json", strings.NewReader(body), &r); code != 201 {
			t.Fatalf("create run: %d", code)
		}
		return r.ID
	}
	run := func(id int64) *store.Run {
		r, err := st.Run(ctx, id)
		if err != nil {
			return &store.Run{}
		}
		return r
	}
	long, short := newRun(1200), newRun(300)
	began := time.Now()

	// Spread: each worker takes one run (one run at a time per worker).
	wait.Until(t, 2*time.Minute, "both runs training, each with a checkpoint", func() bool {
		a, b := run(long), run(short)
		return a.State == store.Running && b.State == store.Running && a.CkptStep >= 20 && b.CkptStep >= 20
	})
	holder := run(long).WorkerID
	if holder == run(short).WorkerID {
		t.Fatalf("both runs on %s", holder)
	}
	t.Logf("spread: run %d on %s, run %d on %s (%.1f s after creating them)", long, holder, short, run(short).WorkerID, time.Since(began).Seconds())

	// Live: serve streams the progress a worker process records.
	res, err := http.Get(fmt.Sprintf("%s/runs/%d/live", base, long))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	var steps []int
	for sc.Scan() && len(steps) < 3 {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var p struct{ Step int }
			if json.Unmarshal([]byte(line), &p) == nil && p.Step > 0 {
				steps = append(steps, p.Step)
			}
		}
	}
	res.Body.Close()
	if len(steps) < 3 || steps[2] <= steps[0] {
		t.Errorf("the live stream through serve gave steps %v, want rising steps", steps)
	}

	// kill -9 the long run's worker: the other finishes its own run, then
	// resumes this one from its last checkpoint.
	var victim string
	for name := range workers {
		if strings.Contains(s.logs[name].String(), holder) {
			victim = name
		}
	}
	if victim == "" {
		t.Fatalf("no worker process logged id %s", holder)
	}
	killed := run(long)
	workers[victim].Process.Kill()
	workers[victim].Wait()
	t.Logf("killed %s (%s) at step %d, checkpoint at %d", victim, holder, killed.Step, killed.CkptStep)
	wait.Until(t, 3*time.Minute, "the other worker to resume the run", func() bool {
		r := run(long)
		return r.State == store.Running && r.WorkerID != holder && r.Step > killed.Step
	})
	if ev := events(t, st, long); !strings.Contains(ev, fmt.Sprintf("from its checkpoint at step %d", killed.CkptStep)) {
		t.Errorf("no event tells of the resume from step %d:\n%s", killed.CkptStep, ev)
	}
	if r := run(short); r.State != store.Done {
		t.Errorf("the other worker's own run is %s, want done before it took the orphan", r.State)
	}

	// Postgres restarts mid-run.
	before := run(long).Step
	drill(t, "pg-stop")
	time.Sleep(3 * time.Second)
	drill(t, "pg-start")
	wait.Until(t, 2*time.Minute, "training to go on after Postgres restarted", func() bool {
		r := run(long)
		return r.Step > before+20 && r.State == store.Running
	})
	t.Logf("after the Postgres restart: step %d → %d; events:\n%s", before, run(long).Step, events(t, st, long))

	// S3 stops for a while, with an upload under way through serve.
	before = run(long).Step
	drill(t, "s3-stop")
	upload := make(chan int, 1)
	go func() {
		body, ctype := pngUpload(t, 12)
		upload <- api("POST", "/api/datasets", ctype, body, nil)
	}()
	time.Sleep(5 * time.Second)
	drill(t, "s3-start")
	if code := <-upload; code != 201 {
		t.Errorf("the upload during the outage answered %d, want 201 once storage was back", code)
	}
	// The outage was felt: the worker's writes and the upload waited.
	for _, name := range []string{"serve", survivor(workers, victim)} {
		if !strings.Contains(s.logs[name].String(), "object storage unreachable; retrying") {
			t.Errorf("%s never waited for the object storage: the drill missed it", name)
		}
	}
	wait.Until(t, time.Minute, "training to go on after S3 came back", func() bool { return run(long).Step > before })
	wait.Until(t, 3*time.Minute, "the run to finish", func() bool { return run(long).State == store.Done })
	t.Logf("the run finished at step %d, %.0f s after it was created; events:\n%s", run(long).Step, time.Since(began).Seconds(), events(t, st, long))

	// Nothing lost or half-written: every checkpoint, grid and sample the
	// database records is whole in S3.
	for _, id := range []int64{long, short} {
		snaps, err := st.Snapshots(ctx, id)
		if err != nil || len(snaps) == 0 {
			t.Fatalf("run %d snapshots: %v", id, err)
		}
		for _, sn := range snaps {
			checkPNG(t, st, store.GridKey(id, sn.Step))
			if sn.Checkpoint {
				checkBlob(t, st, store.CheckpointKey(id, sn.Step))
			}
		}
		samples, _, err := st.Samples(ctx, store.SampleQuery{RunID: id, Step: -1})
		if err != nil || len(samples) == 0 {
			t.Fatalf("run %d samples: %d, %v", id, len(samples), err)
		}
		for _, sm := range samples {
			checkPNG(t, st, store.SampleKey(id, sm.ID))
		}
		if r := run(id); r.CkptStep != r.Steps {
			t.Errorf("run %d ended with its checkpoint at %d of %d", id, r.CkptStep, r.Steps)
		}
	}
	all, _ := st.Datasets(ctx)
	var got *store.Dataset
	for _, d := range all {
		if d.Name == "uploaded during the outage" {
			got = d
		}
	}
	if got == nil || got.Count != 12 {
		t.Fatalf("the upload made during the outage: %+v, want 12 images", got)
	}
	rc, err := st.OpenDataset(ctx, got)
	if err != nil {
		t.Fatalf("the upload's images: %v", err)
	}
	rc.Close()
}

func survivor(workers map[string]*exec.Cmd, victim string) string {
	for name := range workers {
		if name != victim {
			return name
		}
	}
	return ""
}

func events(t *testing.T, st *store.Store, run int64) string {
	evs, _ := st.Events(context.Background(), run, 50)
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  step %d: %s\n", e.Step, e.Message)
	}
	return b.String()
}

func checkBlob(t *testing.T, st *store.Store, key string) []byte {
	t.Helper()
	rc, err := st.Blobs.Open(context.Background(), key)
	if err != nil {
		t.Errorf("%s: %v", key, err)
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil || len(b) == 0 {
		t.Errorf("%s: %d bytes, %v", key, len(b), err)
	}
	return b
}

func checkPNG(t *testing.T, st *store.Store, key string) {
	t.Helper()
	if b := checkBlob(t, st, key); b != nil {
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s is not a whole PNG: %v", key, err)
		}
	}
}
