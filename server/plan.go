package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

// Goals a designer picks on the new-run form (and POST /api/runs takes as
// "goal"): each sets the run's steps and snapshot cadence for its
// resolution; the steps stay editable.
const (
	GoalQuick    = "quick"
	GoalBalanced = "balanced"
	GoalBest     = "best"
)

// goals are the choices in the order the form lists them, with their
// steps at 32 px. Quick look: about where the built-in sets first show
// recognisable shapes; balanced: where the studio's engine (ADA and the
// generator average) has most of its quality at 32 px; best: long enough
// that a run with "stop when quality stops improving" usually ends on its
// own (gan.DefaultPatience is 1 000 steps).
var goals = []goal{
	{GoalQuick, "Quick look", 300},
	{GoalBalanced, "Balanced", 1500},
	{GoalBest, "Best", 4000},
}

type goal struct {
	name, label string
	steps32     int
}

// goalSteps is a goal's steps and snapshot interval at res. Steps scale
// with the number of doublings from 4 px, as in progressive growing
// (Karras et al. 2018), which spends the same number of images on each
// resolution stage: 32 px has three stages (8, 16, 32), 64 px four, 128
// px five, 256 px six, so 64 px gets 4/3 of 32 px's steps and 256 px
// twice (each step costs more at a larger side too: see stepSeconds).
// About twenty snapshots a run, so the quality chart and the
// best step have points to choose from, at most every 250 steps.
func goalSteps(name string, res int) (steps, every int, ok bool) {
	i := slices.IndexFunc(goals, func(g goal) bool { return g.name == name })
	if i < 0 || res < 8 {
		return 0, 0, false
	}
	stages := math.Log2(float64(res) / 4)
	steps = int(math.Round(float64(goals[i].steps32)*stages/3/50) * 50)
	every = min(250, max(10, steps/20/5*5))
	return steps, every, true
}

// maxResOn is the largest side the form offers on a device. On the CPU
// the best goal at 256 px is 8 000 steps of about 49 GFLOP (gan.StepFLOPs
// of spec.Studio(256)), about 4 hours at the figure below before the
// element-wise work that grows with the pixels: a GPU's side, not a
// CPU's.
func maxResOn(device string) int {
	if device == "" || device == spec.CPU {
		return 128
	}
	return 256
}

// Throughputs for estimates before any run on the device has a measured
// rate. CPU: `ganstudio bench --preset studio32 --augment 0.5 --json`, run
// twice on the 2-core development machine while it was shared and busy
// (load average 10 to 12): 20.1 GFLOP a step, medians 3.36 s and 2.04 s
// (6 and 9.9 GFLOP/s); studio64 (28.9 GFLOP) at load 6: 9.7 GFLOP/s. On
// a quiet machine of the same kind the default 64 px run (2,000 steps,
// snapshots and SWD included) took 935 s: 62 GFLOP/s, and `ganstudio
// bench --preset studio64 --augment 0.5` gave 55–67 GFLOP/s. 30 GFLOP/s
// is half the quiet figure, on purpose: an estimate that is too long
// disappoints less than one too short, and the first run of a shape
// corrects it. GPU: not measured here (no GPU was lent); 1 TFLOP/s is a
// guess for these small convolutions, launch-bound, on the device path.
// Both give way to a measured run on the device with the same side, width
// and batch (stepSeconds).
const (
	cpuGFLOPS    = 30.0
	deviceGFLOPS = 1000.0
)

// stepSeconds is the expected time of one step of cfg on device: from the
// most recent of runs (newest first) there with the same side, width and
// batch that was measured, else from the step's arithmetic. basis says
// which.
//
// A running run's stored rate is its recent steps per second. A finished
// run has no rate left (the store clears it when the run ends), so its
// time from start to finish over its steps stands in: that counts the
// snapshots and quality checks too (and any pause, which errs long).
func stepSeconds(runs []*store.Run, device string, cfg spec.Config) (secs float64, basis string) {
	for _, r := range runs {
		if deviceOf(r.Device) != device || r.Config.Res != cfg.Res || r.Config.Width != cfg.Width || r.Config.Batch != cfg.Batch {
			continue
		}
		if r.State == store.Running && r.Rate > 0 {
			return 1 / r.Rate, fmt.Sprintf("from run %d's speed now (%.2g steps/s)", r.ID, r.Rate)
		}
		if took := r.Finished.Sub(r.Started); r.State == store.Done && r.Step > 0 && !r.Started.IsZero() && took > 0 {
			secs := took.Seconds() / float64(r.Step)
			return secs, fmt.Sprintf("from run %d, %s for %s steps", r.ID, about(took), web.Thousands(int64(r.Step)))
		}
	}
	gflops := cpuGFLOPS
	if device != spec.CPU {
		gflops = deviceGFLOPS
	}
	flops := gan.StepFLOPs(cfg) / 1e9
	return flops / gflops, fmt.Sprintf("a rough figure, %.0f GFLOP a step at about %g GFLOP/s, until a run like it has trained here", flops, gflops)
}

func deviceOf(d string) string {
	if d == "" {
		return spec.CPU
	}
	return d
}

// about says a duration as an estimate: "about 25 minutes".
func about(d time.Duration) string {
	switch {
	case d < 90*time.Second:
		return "about a minute"
	case d < 90*time.Minute:
		return fmt.Sprintf("about %d minutes", int(math.Round(d.Minutes())))
	case d < 36*time.Hour:
		return fmt.Sprintf("about %.0f hours", d.Hours())
	}
	return fmt.Sprintf("about %.0f days", d.Hours()/24)
}

// whereRuns names where a run trains, for the estimate's sentence.
func whereRuns(device string) string {
	if device == spec.CPU {
		return "this machine's CPU"
	}
	return "a " + web.DeviceLabel(device) + " worker"
}

// applyGoal fills steps and the snapshot interval from the form's goal
// where the designer left them as the goal last filled them (goal_steps,
// goal_every): a form sent without JavaScript after a change of goal or
// side gets that goal's steps, and steps typed by hand are kept.
func applyGoal(f web.RunForm) {
	res, err := strconv.Atoi(f["res"])
	if err != nil {
		return
	}
	steps, every, ok := goalSteps(f["goal"], res)
	if !ok {
		return
	}
	if f["steps"] == "" || f["steps"] == f["goal_steps"] {
		f["steps"] = fmt.Sprint(steps)
	}
	if f["snapshot_every"] == "" || f["snapshot_every"] == f["goal_every"] {
		f["snapshot_every"] = fmt.Sprint(every)
	}
	f["goal_steps"], f["goal_every"] = fmt.Sprint(steps), fmt.Sprint(every)
}

// sides are the run sides the form offers: those the chosen dataset is
// kept at, up to what the device can train in reasonable time.
func sides(f web.RunForm, sets []*store.Dataset) []int {
	out := []int{32}
	for _, d := range sets {
		if fmt.Sprint(d.ID) == f["dataset_id"] {
			out = d.Resolutions()
		}
	}
	return slices.DeleteFunc(slices.Clone(out), func(r int) bool { return r > maxResOn(deviceOf(f["device"])) })
}

// fitSide moves the live form's side, when the newly chosen dataset or
// device does not offer it, to the largest offered one below it, and
// fills steps from the goal where they were left as it filled them. (A
// form that is sent keeps its side: toRun refuses one the dataset lacks,
// saying why.)
func fitSide(f web.RunForm, sets []*store.Dataset) {
	offered := sides(f, sets)
	res, _ := strconv.Atoi(f["res"])
	if !slices.Contains(offered, res) && len(offered) > 0 {
		fit := offered[0]
		for _, r := range offered {
			if r <= res {
				fit = r
			}
		}
		f["res"] = fmt.Sprint(fit)
	}
	applyGoal(f)
}

// plan is what the form offers for its dataset and device: the sides,
// the goals and how long the run would take. Bad fields fall back to the
// defaults here; toRun names them.
func (s *Server) plan(ctx context.Context, f web.RunForm, sets []*store.Dataset) (web.RunPlan, error) {
	device := deviceOf(f["device"])
	var p web.RunPlan
	res, _ := strconv.Atoi(f["res"])
	if !slices.Contains(spec.Resolutions, res) {
		res = 32
	}
	width, err := strconv.ParseFloat(f["width"], 64)
	if err != nil || width < 0.125 || width > 2 {
		width = 1
	}
	batch, err := strconv.Atoi(f["batch"])
	if err != nil || batch < 2 || batch > 512 {
		batch = 64
	}
	runs, err := s.st.Runs(ctx) // newest first
	if err != nil {
		return p, fmt.Errorf("runs for the estimate: %w", err)
	}
	cost := func(side, steps int) (time.Duration, string) {
		cfg := spec.Studio(side)
		cfg.Width, cfg.Batch = width, batch
		secs, basis := stepSeconds(runs, device, cfg)
		return time.Duration(secs * float64(steps) * float64(time.Second)), basis
	}
	goal := f["goal"]
	offered := sides(f, sets)
	for _, side := range offered {
		// Each side is labelled with the time of the chosen goal at it
		// (or the steps as typed, with no goal).
		steps, _, ok := goalSteps(goal, side)
		if !ok {
			steps, _ = strconv.Atoi(f["steps"])
		}
		d, _ := cost(side, steps)
		p.Resolutions = append(p.Resolutions, web.ResChoice{Res: side, Label: fmt.Sprintf("%d × %d · %s", side, side, about(d))})
	}
	if f["res"] == fmt.Sprint(res) && !slices.Contains(offered, res) {
		// A form sent for a side the dataset or device lacks (chosen
		// before the dataset changed, without script) shows it again
		// beside its message rather than quietly choosing another.
		p.Resolutions = append(p.Resolutions, web.ResChoice{Res: res, Label: fmt.Sprintf("%d × %d · not for this dataset and device", res, res)})
	}
	for _, g := range goals {
		steps, every, _ := goalSteps(g.name, res)
		d, _ := cost(res, steps)
		p.Goals = append(p.Goals, web.GoalChoice{Value: g.name, Steps: steps, Every: every,
			Label: fmt.Sprintf("%s — %s steps, %s", g.label, web.Thousands(int64(steps)), about(d))})
	}
	steps, err := strconv.Atoi(f["steps"])
	if err != nil || steps < 1 {
		return p, nil
	}
	d, basis := cost(res, steps)
	p.Estimate = fmt.Sprintf("%s steps at %d px: %s on %s", web.Thousands(int64(steps)), res, about(d), whereRuns(device))
	p.Basis = basis
	return p, nil
}

// planJSON answers the new-run form's script as the form changes: the
// sides the chosen dataset and device offer, the goals and the estimate,
// with steps refilled from the goal when the change was to the dataset,
// device, side or goal (changed names the field).
func (s *Server) planJSON(c echo.Context) error {
	f, _ := parseRunForm(c)
	switch c.QueryParam("changed") {
	case "dataset_id", "device", "res", "goal":
		// What was filled is filled again for the new choice.
		f["goal_steps"], f["goal_every"] = f["steps"], f["snapshot_every"]
	}
	sets, err := s.st.Datasets(c.Request().Context())
	if err != nil {
		return err
	}
	fitSide(f, sets)
	p, err := s.plan(c.Request().Context(), f, sets)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"res": f["res"], "steps": f["steps"], "snapshot_every": f["snapshot_every"],
		"goal_steps": f["goal_steps"], "goal_every": f["goal_every"], "resolutions": p.Resolutions, "goals": p.Goals,
		"estimate": p.Estimate, "basis": p.Basis})
}
