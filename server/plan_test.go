package server

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

func TestGoalSteps(t *testing.T) {
	cases := []struct {
		goal         string
		res          int
		steps, every int
		ok           bool
	}{
		{GoalQuick, 32, 300, 15, true},
		{GoalBalanced, 32, 1500, 75, true},
		{GoalBest, 32, 4000, 200, true},
		{GoalBalanced, 64, 2000, 100, true}, // four stages to 32 px's three
		{GoalQuick, 128, 500, 25, true},
		{GoalBest, 256, 8000, 250, true}, // twice 32 px; snapshots at most every 250
		{"slow", 32, 0, 0, false},
		{"", 32, 0, 0, false},
	}
	for _, c := range cases {
		steps, every, ok := goalSteps(c.goal, c.res)
		if steps != c.steps || every != c.every || ok != c.ok {
			t.Errorf("%q at %d px: %d steps every %d (%v), want %d every %d (%v)", c.goal, c.res, steps, every, ok, c.steps, c.every, c.ok)
		}
	}
	if web.Patience != gan.DefaultPatience {
		t.Errorf("the form says a stale run stops after %d steps; the loop waits %d", web.Patience, gan.DefaultPatience)
	}
}

// nb is the no-break space web.Thousands puts between digit groups.
const nb = "\u00a0"

// planAnswer is GET /runs/new/plan's answer.
type planAnswer struct {
	Res, Steps, Goal_steps string
	SnapshotEvery          string `json:"snapshot_every"`
	Resolutions            []web.ResChoice
	Goals                  []web.GoalChoice
	Estimate, Basis        string
}

// TestNewRunPlan: the form offers the sides the chosen dataset is kept at
// (up to 128 px on the CPU, 256 on a GPU), the goal fills steps, and an
// estimate of the time is there, from the step's arithmetic or a run's
// measured rate.
func TestNewRunPlan(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	var big struct{ ID int64 }
	if code := s.upload("photos", map[string][]byte{"a.png": pngBytes(color.NRGBA{200, 0, 0, 255}, 300, 280)}, &big); code != 201 {
		t.Fatalf("upload: %d", code)
	}

	// The page, rendered without script: dataset 1 is kept at 64 px.
	for _, c := range []struct {
		dataset int64
		want    []string
		absent  []string
	}{
		{1, []string{`<option value="32" selected>32 × 32 · about`, `<option value="64">64 × 64 · about`}, []string{`<option value="128"`}},
		{big.ID, []string{`<option value="128">128 × 128 · about`}, []string{`<option value="256"`}}, // the CPU stops at 128
	} {
		page := s.get(fmt.Sprintf("/runs/new?dataset=%d", c.dataset))
		for _, w := range append(c.want,
			`<option value="balanced" selected>Balanced — 1`+nb+`500 steps, about`,
			`name="steps" id="steps" value="1500"`,
			`name="snapshot_every" id="snapshot_every" value="75"`,
			`id="estimate-text">1`+nb+`500 steps at 32 px: about`,
			"on this machine&#39;s CPU",
			`<details class="advanced" id="advanced">`,
			`name="stop_when_stale" id="stop_when_stale" value="1"`) {
			if !strings.Contains(page, w) {
				t.Errorf("dataset %d: the form lacks %s", c.dataset, w)
			}
		}
		for _, w := range c.absent {
			if strings.Contains(page, w) {
				t.Errorf("dataset %d: the form offers %s", c.dataset, w)
			}
		}
	}

	plan := func(q string) planAnswer {
		t.Helper()
		var p planAnswer
		if code := s.do("GET", "/runs/new/plan?"+q, "", nil, &p); code != 200 {
			t.Fatalf("plan %s: %d", q, code)
		}
		return p
	}
	sides := func(p planAnswer) string {
		var out []string
		for _, r := range p.Resolutions {
			out = append(out, fmt.Sprint(r.Res))
		}
		return strings.Join(out, " ")
	}
	base := "width=1&batch=64&goal_steps=1500&goal_every=75&snapshot_every=75&steps=1500"
	for _, c := range []struct {
		name, q            string
		res, steps, every  string
		sides, estimateHas string
	}{
		{"a new goal refills the steps", "dataset_id=1&res=32&goal=best&changed=goal&" + base, "32", "4000", "200", "32 64", "4" + nb + "000 steps at 32 px"},
		{"a new side too", "dataset_id=1&res=64&goal=balanced&changed=res&" + base, "64", "2000", "100", "32 64", "2" + nb + "000 steps at 64 px"},
		{"steps typed by hand are kept", "dataset_id=1&res=32&goal=balanced&changed=steps&width=1&batch=64&goal_steps=1500&goal_every=75&snapshot_every=75&steps=777",
			"32", "777", "75", "32 64", "777 steps at 32 px"},
		{"a smaller dataset takes the side down", fmt.Sprintf("dataset_id=1&res=128&goal=quick&changed=dataset_id&%s", base), "64", "400", "20", "32 64", "400 steps at 64 px"},
		{"a GPU offers 256 px", fmt.Sprintf("dataset_id=%d&device=cuda&res=256&goal=quick&changed=device&%s", big.ID, base), "256", "600", "30", "32 64 128 256", "on a GPU (cuda) worker"},
		{"the CPU does not", fmt.Sprintf("dataset_id=%d&device=cpu&res=256&goal=quick&changed=device&%s", big.ID, base), "128", "500", "25", "32 64 128", "this machine's CPU"},
	} {
		p := plan(c.q)
		if p.Res != c.res || p.Steps != c.steps || p.SnapshotEvery != c.every || sides(p) != c.sides || !strings.Contains(p.Estimate, c.estimateHas) {
			t.Errorf("%s: side %s, %s steps every %s, sides %s, %q; want %s, %s every %s, %s, saying %q",
				c.name, p.Res, p.Steps, p.SnapshotEvery, sides(p), p.Estimate, c.res, c.steps, c.every, c.sides, c.estimateHas)
		}
	}

	// A side the dataset lacks, sent without script, is shown again with
	// its message, not swapped for another.
	jar := &cookieJar{}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(s.srv.URL + "/runs/new")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = client.PostForm(s.srv.URL+"/runs", url.Values{"_csrf": {between(string(b), `name="_csrf" value="`, `"`)}, "dataset_id": {"1"}, "res": {"128"},
		"width": {"1"}, "steps": {"300"}, "batch": {"64"}, "lr_g": {"0.0002"}, "lr_d": {"0.0002"}, "seed": {"1"}, "feedback_weight": {"0"},
		"snapshot_every": {"15"}, "goal": {"quick"}, "goal_steps": {"300"}, "goal_every": {"15"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if page := string(b); resp.StatusCode != 422 || !strings.Contains(page, `<option value="128" selected>128 × 128 · not for this dataset`) ||
		!strings.Contains(page, "kept at up to 64 pixels") {
		t.Errorf("128 px on a 64 px dataset: %d; want 422 with the side shown and its message", resp.StatusCode)
	}

	// The arithmetic's estimate, then a finished run's measured rate.
	p := plan("dataset_id=1&res=32&goal=quick&changed=goal&" + base)
	cfg := spec.Studio(32)
	want := about(time.Duration(gan.StepFLOPs(cfg) / 1e9 / cpuGFLOPS * 300 * float64(time.Second)))
	if !strings.HasSuffix(p.Estimate, want+" on this machine's CPU") || !strings.Contains(p.Basis, "GFLOP") {
		t.Errorf("estimate %q (%s), want %s from the step's arithmetic", p.Estimate, p.Basis, want)
	}
	ctx := context.Background()
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 10}`), &run)
	r, err := s.st.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Running at 0.25 steps/s: 4 s a step.
	if _, ok, err := s.st.Claim(ctx, r.ID, r.JobID, "w-test", spec.CPU); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, err := s.st.Progress(ctx, r.ID, "w-test", []spec.Stats{{Step: 10}}, 0.25); err != nil {
		t.Fatal(err)
	}
	p = plan("dataset_id=1&res=32&goal=quick&changed=goal&" + base)
	if !strings.HasPrefix(p.Estimate, "300 steps at 32 px: about 20 minutes") || !strings.Contains(p.Basis, fmt.Sprintf("run %d's speed now", run.ID)) {
		t.Errorf("with a run at 0.25 steps/s: %q (%s), want about 20 minutes from run %d", p.Estimate, p.Basis, run.ID)
	}
	// Finished, its 10 steps in 40 s: 4 s a step again, snapshots and all.
	if err := s.st.Finish(ctx, r.ID, "w-test", store.Done, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.DB.ExecContext(ctx, `UPDATE runs SET finished_at = started_at + 40000 WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	p = plan("dataset_id=1&res=32&goal=quick&changed=goal&" + base)
	if !strings.HasPrefix(p.Estimate, "300 steps at 32 px: about 20 minutes") || !strings.Contains(p.Basis, fmt.Sprintf("from run %d, about a minute for 10 steps", run.ID)) {
		t.Errorf("after a run of 10 steps in 40 s: %q (%s), want about 20 minutes from run %d", p.Estimate, p.Basis, run.ID)
	}
	// A run of another batch says nothing of this one's speed.
	if p = plan("dataset_id=1&res=32&goal=quick&changed=goal&width=1&batch=32&goal_steps=1500&goal_every=75&snapshot_every=75&steps=1500"); strings.Contains(p.Basis, "from run") {
		t.Errorf("batch 32 estimated from a batch 64 run: %s", p.Basis)
	}
}

// TestGoalOverForms: POST /api/runs takes goal (steps from it when steps
// are left out) and stop_when_stale; the form sent without script gets
// the goal's steps unless they were typed, and shows stop_when_stale in
// the run's settings.
func TestGoalOverForms(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	for _, c := range []struct {
		body         string
		code         int
		steps, every int
		stale        bool
	}{
		{`{"dataset_id": 1, "goal": "quick"}`, 201, 300, 15, false},
		{`{"dataset_id": 1, "goal": "best", "res": 64}`, 201, 5350, 250, false},
		{`{"dataset_id": 1, "goal": "best", "steps": 40}`, 201, 40, 4, false}, // sent steps win; ten snapshots
		{`{"dataset_id": 1, "goal": "balanced", "snapshot_every": 7}`, 201, 1500, 7, false},
		{`{"dataset_id": 1, "stop_when_stale": true}`, 201, 500, 50, true},
		{`{"dataset_id": 1, "goal": "slow"}`, 422, 0, 0, false},
	} {
		var raw json.RawMessage
		code := s.do("POST", "/api/runs", "application/json", strings.NewReader(c.body), &raw)
		var r jsonRun
		json.Unmarshal(raw, &r)
		if code != c.code || (code == 201 && (r.Steps != c.steps || r.Config.SnapshotEvery != c.every || r.Config.StopWhenStale != c.stale)) {
			t.Errorf("%s: %d, %d steps every %d, stale %v; want %d, %d every %d, %v (%s)", c.body, code, r.Steps, r.Config.SnapshotEvery,
				r.Config.StopWhenStale, c.code, c.steps, c.every, c.stale, raw)
		}
		if code == 422 {
			var a apiError
			json.Unmarshal(raw, &a)
			if a.Fields["goal"] != "quick, balanced or best" {
				t.Errorf("%s: %s, want the goals named", c.body, raw)
			}
		}
	}

	jar := &cookieJar{}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.srv.URL + "/runs/new")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := between(string(page), `name="_csrf" value="`, `"`)
	form := func(goal, steps string, stale bool) url.Values {
		v := url.Values{"_csrf": {tok}, "dataset_id": {"1"}, "res": {"32"}, "width": {"1"}, "steps": {steps}, "batch": {"64"},
			"lr_g": {"0.0002"}, "lr_d": {"0.0002"}, "seed": {"1"}, "feedback_weight": {"0"}, "snapshot_every": {"75"},
			"goal": {goal}, "goal_steps": {"1500"}, "goal_every": {"75"}, "augment_mode": {"auto"}}
		if stale {
			v.Set("stop_when_stale", "1")
		}
		return v
	}
	for _, c := range []struct {
		name         string
		form         url.Values
		steps, every int
		stale        string
	}{
		{"the goal changed, steps as filled", form(GoalBest, "1500", true), 4000, 200, "yes, after 1" + nb + "000 steps without a better SWD"},
		{"steps typed; the interval as filled follows the goal", form(GoalBest, "999", false), 999, 200, "no (trains all its steps)"},
	} {
		resp, err := client.PostForm(s.srv.URL+"/runs", c.form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		var id int64
		if resp.StatusCode != http.StatusSeeOther || func() error { _, err := fmt.Sscanf(loc, "/runs/%d", &id); return err }() != nil {
			t.Errorf("%s: %d to %q, want a run", c.name, resp.StatusCode, loc)
			continue
		}
		var r jsonRun
		s.do("GET", fmt.Sprintf("/api/runs/%d", id), "", nil, &r)
		if r.Steps != c.steps || r.Config.SnapshotEvery != c.every {
			t.Errorf("%s: %d steps every %d, want %d every %d", c.name, r.Steps, r.Config.SnapshotEvery, c.steps, c.every)
		}
		if page := s.get(loc); !strings.Contains(page, "<dt>Stop when quality stops improving</dt><dd>"+c.stale+"</dd>") {
			t.Errorf("%s: the run's settings do not say %q", c.name, c.stale)
		}
	}
}
