package web

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

func stats(n int, dReal, dFake float64) []spec.Stats {
	out := make([]spec.Stats, n)
	for i := range out {
		out[i] = spec.Stats{Step: i + 1, LossD: 1, LossG: 2, DReal: dReal, DFake: dFake}
	}
	return out
}

func TestHealthOf(t *testing.T) {
	judged := func(step int, level string) store.Snapshot {
		h := store.NoHealth
		h.Level, h.Diversity, h.Reason = level, 0.8, "some reason"
		return store.Snapshot{Step: step, Health: h}
	}
	warmUp := store.Snapshot{Step: 50, Health: store.NoHealth}
	run := func(mode string) *store.Run {
		r := &store.Run{}
		r.Config.Policy.Mode = mode
		return r
	}
	cases := []struct {
		name  string
		run   *store.Run
		snaps []store.Snapshot
		level string
	}{
		{"nothing yet", run(""), nil, "none"},
		{"warming up", run(""), []store.Snapshot{warmUp}, "none"},
		{"healthy", run("repair"), []store.Snapshot{warmUp, judged(250, spec.Healthy)}, "ok"},
		{"latest judged wins", run("warn"), []store.Snapshot{judged(250, spec.Healthy), judged(300, spec.Collapsed), {Step: 301, Health: store.NoHealth}}, "bad"},
		{"warning", run("repair"), []store.Snapshot{judged(250, spec.Warning)}, "warn"},
		{"monitor off", run("off"), []store.Snapshot{judged(250, spec.Collapsed)}, "none"},
	}
	for _, c := range cases {
		if h := HealthOf(c.run, c.snaps); h.Level != c.level {
			t.Errorf("%s: %s (%s), want %s", c.name, h.Level, h.Text, c.level)
		}
	}
}

func TestLineChartScalesAndThins(t *testing.T) {
	n := 1000
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], y[i] = float64(i+1), float64(i%10)
	}
	zero := 0.0
	c := LineChart("t", []string{"a"}, []string{"s1"}, [][]float64{x}, [][]float64{y}, &zero, nil)
	pts := strings.Fields(c.Series[0].Points)
	if len(pts) == 0 || len(pts) > 300 {
		t.Fatalf("%d points, want 1..300", len(pts))
	}
	for _, p := range pts {
		var px, py float64
		if _, err := fmtSscanf(p, &px, &py); err != nil || px < 0 || px > chartW || py < 0 || py > chartH {
			t.Fatalf("point %q outside the %gx%g box", p, chartW, chartH)
		}
	}
	if c.YMin != "0.00" || c.YMax != "9.00" || c.XMax != "1000" {
		t.Errorf("axes %s–%s to %s", c.YMin, c.YMax, c.XMax)
	}
	if empty := LineChart("t", []string{"a"}, []string{"s1"}, [][]float64{nil}, [][]float64{nil}, nil, nil); !empty.Empty {
		t.Error("a chart with no figures should say so")
	}
}

func TestRunPageRenders(t *testing.T) {
	r := &store.Run{ID: 7, Steps: 200, Step: 100, State: store.Running, Rate: 2, Config: store.RunConfig{Config: spec.DefaultConfig(), SnapshotEvery: 50}}
	v := RunView{
		Run:       r,
		Dataset:   &store.Dataset{Name: "cats <3"},
		Metrics:   stats(100, 0.8, 0.2),
		Snapshots: []store.Snapshot{{Step: 0, SWD: 140, SWDFloor: 27}, {Step: 50, SWD: -1, Checkpoint: true}, {Step: 100, SWD: 60, SWDFloor: 27, Checkpoint: true}},
		Events:    []store.Event{{Step: 0, Kind: store.EventInfo, Message: "Started.", Created: time.Now()}},
	}
	var b bytes.Buffer
	if err := RunPage(Page{Title: "Run 7", CSRF: "tok"}, v).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{
		`data-live="/runs/7/live"`,
		`id="grid-slider"`, `data-steps="[0,50,100]"`, `src="/runs/7/grids/100.png"`,
		`cats &lt;3`, // escaped
		`id="pause"`, `id="cancel"`,
		`/runs/7/checkpoints/50.gob`, `/runs/7/checkpoints/100.gob`,
		`<polyline`, `about 50s left`,
		`&#34;X-CSRF-Token&#34;:&#34;tok&#34;`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("run page lacks %s", want)
		}
	}
	if strings.Contains(html, `id="resume"`) {
		t.Error("a running run offers Resume")
	}
}

func fmtSscanf(p string, x, y *float64) (int, error) { return fmt.Sscanf(p, "%g,%g", x, y) }

func TestRunCardsPollOnlyWhileActive(t *testing.T) {
	for state, want := range map[string]string{store.Running: `hx-trigger="every 5s"`, store.Queued: `hx-trigger="every 5s"`,
		store.Done: `hx-trigger="none"`, store.Paused: `hx-trigger="none"`} {
		r := &store.Run{ID: 1, State: state, Steps: 10, Config: store.RunConfig{Config: spec.DefaultConfig()}}
		var b bytes.Buffer
		if err := RunCards([]RunCard{{Run: r, LastGrid: -1}}).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("a %s run: the list lacks %s", state, want)
		}
	}
}

func TestNewRunPageDeviceField(t *testing.T) {
	sets := []*store.Dataset{{ID: 1, Name: "emoji", Count: 110}}
	cases := []struct {
		name    string
		devices []string
		form    RunForm
		errs    map[string]string
		want    []string
		absent  []string
	}{
		{"no device but the CPU", nil, DefaultRunForm(1), nil, nil, []string{`name="device"`}},
		{"a GPU worker", []string{"cuda"}, DefaultRunForm(1), nil,
			[]string{`<select name="device" id="device">`, `<option value="cpu" selected>CPU</option>`, `<option value="cuda">GPU (cuda)</option>`}, nil},
		{"a GPU chosen, its worker gone", []string{"cuda"}, RunForm{"device": "cuda"}, map[string]string{"device": "no GPU (cuda) worker is running"},
			[]string{`<option value="cuda" selected>GPU (cuda)</option>`, `id="device-error">no GPU (cuda) worker is running</p>`}, nil},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := NewRunPage(Page{Title: "New run"}, sets, c.form, c.errs, c.devices, RunPlan{}).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: the form lacks %s", c.name, w)
			}
		}
		for _, w := range c.absent {
			if strings.Contains(b.String(), w) {
				t.Errorf("%s: the form has %s", c.name, w)
			}
		}
	}
}

func TestRunDeviceShown(t *testing.T) {
	cases := []struct {
		device, worker, state string
		facts                 [][2]string // in PrettyConfig
		eta                   string
	}{
		{"cpu", "", store.Queued, [][2]string{{"Device", "CPU"}}, "waiting for a worker"},
		{"", "cpu-1", store.Done, [][2]string{{"Device", "CPU"}, {"Worker", "cpu-1"}}, "finished"},
		{"cuda", "", store.Queued, [][2]string{{"Device", "GPU (cuda)"}}, "waiting for a GPU (cuda) worker"},
		{"cuda", "cuda-ab12", store.Paused, [][2]string{{"Device", "GPU (cuda)"}, {"Worker", "cuda-ab12"}}, "paused"},
	}
	for _, c := range cases {
		r := &store.Run{Device: c.device, WorkerID: c.worker, State: c.state, Config: store.RunConfig{Config: spec.DefaultConfig()}}
		facts := PrettyConfig(r)
		for _, want := range c.facts {
			found := false
			for _, f := range facts {
				found = found || f == want
			}
			if !found {
				t.Errorf("run on %q by %q: settings lack %v", c.device, c.worker, want)
			}
		}
		if c.worker == "" && facts[len(facts)-1][0] == "Worker" {
			t.Errorf("run on %q with no worker: settings name one", c.device)
		}
		if got := ETA(r); !strings.HasPrefix(got, c.eta) {
			t.Errorf("%s run on %q: ETA says %q, want %q", c.state, c.device, got, c.eta)
		}
	}
}

// The run page says what ratings have changed: the share of new samples
// the rating model likes, at the first judged snapshot since ratings began
// steering and at the latest; nothing until there are two such snapshots.
func TestFeedbackTextSaysWhatChanged(t *testing.T) {
	run := &store.Run{Config: store.RunConfig{FeedbackWeight: 0.5},
		Feedback: store.FeedbackStatus{Liked: 30, Disliked: 70, Since: 100, ReadStep: 300, Model: true, ModelAccuracy: 0.9, Weight: 0.5}}
	snaps := []store.Snapshot{{Step: 50, LikedShare: 0.1}, {Step: 100, LikedShare: -1}, {Step: 150, LikedShare: 0.2}, {Step: 200, LikedShare: -1}, {Step: 300, LikedShare: 0.55}}
	for _, c := range []struct {
		snaps []store.Snapshot
		want  string
	}{
		{snaps, "New samples the rating model likes: 20% at step 150, 55% at step 300."},
		{snaps[:3], ""},
		{nil, ""},
	} {
		got := RunView{Run: run, Snapshots: c.snaps}.FeedbackText()
		if !strings.HasPrefix(got, "100 ratings in use (30 liked, 70 disliked) since step 100") {
			t.Errorf("%d snapshots: %q", len(c.snaps), got)
		}
		if has := strings.Contains(got, "New samples the rating model likes"); has != (c.want != "") || (c.want != "" && !strings.Contains(got, c.want)) {
			t.Errorf("%d snapshots: %q, want it to say %q", len(c.snaps), got, c.want)
		}
	}
}
