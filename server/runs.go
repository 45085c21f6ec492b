package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

// runBody is the body of POST /api/runs. A field left out (or null) takes
// the new-run form's default; a field that is present is validated as sent,
// so an explicit 0 is a zero, not "the default".
type runBody struct {
	DatasetID      *int64   `json:"dataset_id"`
	Res            *int     `json:"res"`
	Width          *float64 `json:"width"`
	Steps          *int     `json:"steps"`
	Batch          *int     `json:"batch"`
	LRG            *float64 `json:"lr_g"`
	LRD            *float64 `json:"lr_d"`
	Seed           *uint64  `json:"seed"`
	FeedbackWeight *float64 `json:"feedback_weight"` // 0 turns feedback off
	SnapshotEvery  *int     `json:"snapshot_every"`
	CollapsePolicy *string  `json:"collapse_policy"`
	Device         *string  `json:"device"` // left out: the CPU
	// Augment is "auto", "off" or a fixed strength as text ("0.3"); left
	// out: auto on the CPU, off on a device (whose kernels have none yet).
	Augment *string `json:"augment"`
	// Goal is "quick", "balanced" or "best": it sets steps (and the
	// snapshot interval) for the run's side when those are left out.
	Goal          *string `json:"goal"`
	StopWhenStale *bool   `json:"stop_when_stale"` // left out: false
	Loss          *string `json:"loss"`            // "ns" (left out) or "hinge"
	// MBStd adds the batch's spread as one more channel at the end of the
	// discriminator (minibatch standard deviation); left out: the
	// studio's default.
	MBStd *bool `json:"mbstd"`
}

// form lays the body over the form's defaults, as the text the form would
// have sent.
func (b runBody) form() web.RunForm {
	f := defaultRunForm(0)
	put(f, "dataset_id", b.DatasetID)
	put(f, "res", b.Res)
	put(f, "width", b.Width)
	put(f, "steps", b.Steps)
	put(f, "batch", b.Batch)
	put(f, "lr_g", b.LRG)
	put(f, "lr_d", b.LRD)
	put(f, "seed", b.Seed)
	put(f, "feedback_weight", b.FeedbackWeight)
	put(f, "snapshot_every", b.SnapshotEvery)
	put(f, "collapse_policy", b.CollapsePolicy)
	put(f, "device", b.Device)
	// Left out, augmentation takes the default for the run's device.
	delete(f, "augment")
	put(f, "augment", b.Augment)
	put(f, "stop_when_stale", b.StopWhenStale)
	put(f, "loss", b.Loss)
	put(f, "mbstd", b.MBStd)
	put(f, "goal", b.Goal)
	if b.Goal != nil && b.Steps == nil {
		// The goal fills the steps left out, and the interval if that
		// was left out too; what was sent is kept.
		f["goal_steps"], f["goal_every"] = f["steps"], f["snapshot_every"]
		if b.SnapshotEvery != nil {
			f["goal_every"] = ""
		}
		applyGoal(f)
	}
	if b.SnapshotEvery == nil && b.Steps != nil && *b.Steps > 0 {
		// A short run still gets about ten snapshots.
		f["snapshot_every"] = fmt.Sprint(max(1, min(50, *b.Steps/10)))
	}
	return f
}

// put sets a form field from a body field that was sent.
func put[T any](f web.RunForm, k string, v *T) {
	if v != nil {
		f[k] = fmt.Sprint(*v)
	}
}

func defaultRunForm(datasetID int64) web.RunForm { return web.DefaultRunForm(datasetID) }

// parseForm reads the form's fields as text, so a bad value can be shown
// back with its message next to it.
func parseRunForm(c echo.Context) (web.RunForm, error) {
	f := web.RunForm{}
	for _, k := range []string{"dataset_id", "res", "width", "steps", "batch", "lr_g", "lr_d", "seed", "feedback_weight", "snapshot_every", "collapse_policy", "device", "augment",
		"goal", "goal_steps", "goal_every", "stop_when_stale", "loss", "mbstd"} {
		f[k] = strings.TrimSpace(c.FormValue(k))
	}
	// The page asks for augmentation as a choice and, for a fixed one, a
	// strength; a form posted by hand may send "augment" itself.
	if mode := strings.TrimSpace(c.FormValue("augment_mode")); mode != "" {
		f["augment_mode"], f["augment_p"] = mode, strings.TrimSpace(c.FormValue("augment_p"))
		f["augment"] = mode
		if mode == spec.AugFixed {
			f["augment"] = f["augment_p"]
		}
	}
	return f, nil
}

// toRun validates the fields and builds the run, or returns a message per bad field.
func toRun(c echo.Context, s *Server, f web.RunForm) (*store.Run, fieldErrors) {
	errs := fieldErrors{}
	num := func(k string, lo, hi float64, msg string) float64 {
		v, err := strconv.ParseFloat(f[k], 64)
		if f[k] == "" || err != nil || v < lo || v > hi || v != v {
			errs[k] = msg
			return 0
		}
		return v
	}
	integer := func(k string, lo, hi int64, msg string) int64 {
		v, err := strconv.ParseInt(f[k], 10, 64)
		if f[k] == "" || err != nil || v < lo || v > hi {
			errs[k] = msg
			return 0
		}
		return v
	}
	// A box: the form sends "1" when ticked and nothing when not, the
	// API true or false.
	boolean := func(k string) bool {
		on, ok := web.Box(f[k])
		if !ok {
			errs[k] = "true or false"
		}
		return on
	}
	did := integer("dataset_id", 1, 1<<62, "choose a dataset")
	res := int(integer("res", 32, 256, "32, 64, 128 or 256 pixels"))
	if !slices.Contains(spec.Resolutions, res) && errs["res"] == "" {
		errs["res"] = "32, 64, 128 or 256 pixels"
	}
	// The studio's engine: augmentation steered by ADA, the generator's
	// weight average and mirrored data (spec.Studio), with the form's
	// fields laid over it.
	cfg := spec.Studio(res)
	cfg.Width = num("width", 0.125, 2, "a model size between 0.125 and 2")
	steps := int(integer("steps", 1, 200000, "between 1 and 200 000 steps"))
	cfg.Batch = int(integer("batch", 2, 512, "between 2 and 512 images per step"))
	cfg.LRG = num("lr_g", 1e-6, 0.1, "a learning rate between 0.000001 and 0.1")
	cfg.LRD = num("lr_d", 1e-6, 0.1, "a learning rate between 0.000001 and 0.1")
	cfg.Seed = uint64(integer("seed", 0, 1<<53, "a whole number from 0"))
	fw := num("feedback_weight", 0, 1, "between 0 (off) and 1")
	every := int(integer("snapshot_every", 1, 100000, "a whole number of steps from 1"))
	policy := spec.DefaultPolicy()
	if f["collapse_policy"] != "" {
		policy.Mode = f["collapse_policy"]
	}
	if policy.Validate() != nil {
		errs["collapse_policy"] = "repair, warn or off"
	}
	if g := f["goal"]; g != "" && !slices.ContainsFunc(goals, func(x goal) bool { return x.name == g }) {
		errs["goal"] = "quick, balanced or best"
	}
	stale := boolean("stop_when_stale")
	cfg.MBStd = boolean("mbstd")
	device := strings.ToLower(f["device"])
	if device == "" {
		device = spec.CPU
	}
	augment := f["augment"]
	if augment == "" && f["augment_mode"] != spec.AugFixed {
		augment = spec.AugAuto // no choice made
	}
	aug, err := spec.ParseAugment(augment)
	switch {
	case augment == "":
		errs["augment"] = "give the fixed strength, from 0 (none) to 1"
	case err != nil:
		errs["augment"] = "auto, off, or a fixed strength from 0 to 1"
	}
	cfg.Augment = aug
	switch loss := strings.TrimSpace(f["loss"]); {
	case loss == "": // the studio's default
	case slices.Contains(spec.LossNames, loss):
		cfg.Loss = loss
	default:
		errs["loss"] = "hinge or ns (non-saturating)"
	}
	if device != spec.CPU {
		// Only a worker for the device takes the run: without one it would
		// wait in the queue for good, so say so now.
		live, err := s.liveDevices(c.Request().Context())
		switch {
		case err != nil:
			errs["device"] = "could not look for workers: " + err.Error()
		case !slices.Contains(live, device):
			errs["device"] = noWorkerFor(device)
		}
	}
	if len(errs) == 0 {
		if err := cfg.Validate(); err != nil {
			errs["config"] = err.Error()
		}
		d, err := s.st.Dataset(c.Request().Context(), did)
		if err != nil {
			errs["dataset_id"] = "no such dataset"
		} else if d.MaxRes() < cfg.Res {
			errs["res"] = fmt.Sprintf("this dataset is kept at up to %d pixels", d.MaxRes())
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &store.Run{DatasetID: did, Steps: steps, Device: device, Config: store.RunConfig{
		Config: cfg, SnapshotEvery: min(every, steps), EvalEvery: max(every*2, 100), KeepEvery: max(every*5, 250),
		FeedbackWeight: fw, Policy: policy, StopWhenStale: stale,
	}}, nil
}

func (s *Server) newRunPage(c echo.Context) error {
	list, err := s.st.Datasets(c.Request().Context())
	if err != nil {
		return err
	}
	devices, err := s.formDevices(c.Request().Context(), nil, nil)
	if err != nil {
		return err
	}
	var did int64
	if v, err := strconv.ParseInt(c.QueryParam("dataset"), 10, 64); err == nil {
		did = v
	} else if len(list) > 0 {
		did = list[0].ID
	}
	// The page starts from the balanced goal; the API's default run (no
	// goal) keeps its 500 steps.
	f := defaultRunForm(did)
	f["goal"] = GoalBalanced
	f["goal_steps"], f["goal_every"] = f["steps"], f["snapshot_every"] // defaults, for the goal to fill
	applyGoal(f)
	plan, err := s.plan(c.Request().Context(), f, list)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.NewRunPage(s.page(c, "New run"), list, f, nil, devices, plan))
}

func (s *Server) newRunSubmit(c echo.Context) error {
	f, _ := parseRunForm(c)
	// Sent without JavaScript after a change of goal or side, the steps
	// the goal had filled are filled again for the new choice.
	applyGoal(f)
	r, errs := toRun(c, s, f)
	if errs != nil {
		list, err := s.st.Datasets(c.Request().Context())
		if err != nil {
			return err
		}
		devices, err := s.formDevices(c.Request().Context(), f, errs)
		if err != nil {
			return err
		}
		plan, err := s.plan(c.Request().Context(), f, list)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, web.NewRunPage(s.page(c, "New run"), list, f, errs, devices, plan))
	}
	if err := s.createRun(c, r); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/runs/%d", r.ID))
}

// runView gathers what the run page shows of the run in the path.
func (s *Server) runView(c echo.Context) (web.RunView, error) {
	ctx := c.Request().Context()
	r, err := s.runOf(c)
	if err != nil {
		return web.RunView{}, err
	}
	v := web.RunView{Run: r}
	if v.Dataset, err = s.st.Dataset(ctx, r.DatasetID); err != nil {
		return v, err
	}
	if v.Metrics, err = s.st.Metrics(ctx, r.ID); err != nil {
		return v, err
	}
	if v.Snapshots, err = s.st.Snapshots(ctx, r.ID); err != nil {
		return v, err
	}
	if v.Events, err = s.st.Events(ctx, r.ID, 50); err != nil {
		return v, err
	}
	if v.Best, err = s.best(ctx, r.ID); err != nil {
		return v, err
	}
	v.Liked, v.Disliked, err = s.st.RatingCounts(ctx, r.ID)
	return v, err
}

// best is the run's best step by quality with a kept checkpoint, or nil.
func (s *Server) best(ctx context.Context, runID int64) (*web.Best, error) {
	step, swd, ok, err := s.st.BestStep(ctx, runID)
	if err != nil || !ok {
		return nil, err
	}
	return &web.Best{Step: step, SWD: swd}, nil
}

// session draws a rating session, refusing a run with no checkpoint yet
// with a message that says when there will be one.
func (s *Server) session(c echo.Context, r *store.Run, n int) ([]store.Sample, error) {
	if r.CkptStep < 0 {
		return nil, echo.NewHTTPError(http.StatusConflict, "nothing to rate yet: a rating session draws from the latest checkpoint, written at the first snapshot")
	}
	return jobs.Session(c.Request().Context(), s.st, r, n)
}

// ratePage shows the run's session samples not rated yet, for rating with
// the keyboard.
func (s *Server) ratePage(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	none := 0
	list, total, err := s.st.Samples(ctx, store.SampleQuery{RunID: r.ID, Step: -1, Origin: store.OriginSession, Rating: &none, Limit: jobs.MaxSession})
	if err != nil {
		return err
	}
	liked, disliked, err := s.st.RatingCounts(ctx, r.ID)
	if err != nil {
		return err
	}
	v := web.RateView{Run: r, Samples: list, Left: total, Rated: liked + disliked}
	return s.render(c, http.StatusOK, web.RatePage(s.page(c, fmt.Sprintf("Rate samples of run %d", r.ID)), v))
}

// generateStep is the checkpoint "generate" draws from: from is "best"
// (or left out: the best step when there is one, else the latest),
// "latest", or a step. An explicit "best" with none measured is refused.
func (s *Server) generateStep(ctx context.Context, r *store.Run, from string) (int, error) {
	switch from {
	case "latest":
		return -1, nil
	case "", "best":
		b, err := s.best(ctx, r.ID)
		if err != nil {
			return 0, err
		}
		if b != nil {
			return b.Step, nil
		}
		if from == "best" {
			return 0, fieldErrors{"step": "no best step yet: quality is measured every few snapshots; choose the latest checkpoint"}
		}
		return -1, nil
	}
	step, err := strconv.Atoi(from)
	if err != nil || step < 0 {
		return 0, fieldErrors{"step": "best, latest or a checkpoint's step"}
	}
	return step, nil
}

func (s *Server) runPage(c echo.Context) error {
	v, err := s.runView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.RunPage(s.page(c, fmt.Sprintf("Run %d", v.Run.ID)), v))
}

// runPanel renders one live part of the run page, for htmx to swap in.
func (s *Server) runPanel(c echo.Context) error {
	v, err := s.runView(c)
	if err != nil {
		return err
	}
	switch c.Param("part") {
	case "charts":
		return s.render(c, http.StatusOK, web.Charts(v))
	case "events":
		return s.render(c, http.StatusOK, web.EventList(v.Events))
	case "grid":
		return s.render(c, http.StatusOK, web.GridViewer(v))
	case "controls":
		return s.render(c, http.StatusOK, web.RunControls(s.page(c, ""), v.Run))
	}
	return echo.NewHTTPError(http.StatusNotFound, "no such panel")
}

// control applies pause, resume, cancel or rollback (to step).
func (s *Server) control(c echo.Context, r *store.Run, action string, step int) error {
	ctx := c.Request().Context()
	switch action {
	case "rollback":
		return s.st.Rollback(ctx, r.ID, step)
	case "pause":
		_, err := s.st.Control(ctx, r.ID, store.ControlPause)
		return err
	case "cancel":
		_, err := s.st.Control(ctx, r.ID, store.ControlCancel)
		return err
	case "resume":
		return s.q.Resume(ctx, r.ID)
	}
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no action %q (have pause, resume, cancel, rollback, generate, session)", action))
}

func (s *Server) runAction(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	action := c.Param("action")
	if action == "session" {
		n := jobs.DefaultSession
		if v := strings.TrimSpace(c.FormValue("n")); v != "" {
			if n, err = strconv.Atoi(v); err != nil || n < 1 || n > jobs.MaxSession {
				return fieldErrors{"n": fmt.Sprintf("between 1 and %d samples", jobs.MaxSession)}
			}
		}
		if _, err := s.session(c, r, n); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/runs/%d/rate", r.ID))
	}
	if action == "generate" {
		n, err := strconv.Atoi(c.FormValue("n"))
		if err != nil || n < 1 || n > jobs.MaxGenerate {
			return fieldErrors{"n": fmt.Sprintf("between 1 and %d samples", jobs.MaxGenerate)}
		}
		step, err := s.generateStep(c.Request().Context(), r, strings.TrimSpace(c.FormValue("step")))
		if err != nil {
			return err
		}
		bias := c.FormValue("bias") != ""
		got, err := jobs.Generate(c.Request().Context(), s.st, r, step, n, bias)
		if errors.Is(err, gan.ErrNoLiked) {
			return fieldErrors{"bias": "like a few samples first: biased latents start from liked ones"}
		}
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/runs/%d/samples?step=%d", r.ID, got[0].Step))
	}
	step := -1
	if action == "rollback" {
		if step, err = strconv.Atoi(c.FormValue("step")); err != nil {
			return fieldErrors{"step": "the step of a snapshot with a checkpoint"}
		}
	}
	if err := s.control(c, r, action, step); err != nil {
		if errors.Is(err, store.ErrState) && c.Request().Header.Get("HX-Request") != "" {
			// The page was stale (say, the run finished meanwhile): show the truth.
		} else if err != nil {
			return err
		}
	}
	if c.Request().Header.Get("HX-Request") != "" {
		if action == "resume" || action == "rollback" {
			// The live stream ended with the pause: reload to start it again.
			c.Response().Header().Set("HX-Refresh", "true")
		}
		r, err = s.st.Run(c.Request().Context(), r.ID)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusOK, web.RunControls(s.page(c, ""), r))
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/runs/%d", r.ID))
}

// runCards gathers the dashboard's run list.
func (s *Server) runCards(c echo.Context) ([]web.RunCard, []*store.Dataset, error) {
	ctx := c.Request().Context()
	runs, err := s.st.Runs(ctx)
	if err != nil {
		return nil, nil, err
	}
	sets, err := s.st.Datasets(ctx)
	if err != nil {
		return nil, nil, err
	}
	names := map[int64]string{}
	for _, d := range sets {
		names[d.ID] = d.Name
	}
	cards := make([]web.RunCard, 0, len(runs))
	for _, r := range runs {
		card := web.RunCard{Run: r, Dataset: names[r.DatasetID], LastGrid: -1}
		snaps, err := s.st.Snapshots(ctx, r.ID)
		if err != nil {
			return nil, nil, err
		}
		if len(snaps) > 0 {
			card.LastGrid = snaps[len(snaps)-1].Step
		}
		card.Health = web.HealthOf(r, snaps)
		cards = append(cards, card)
	}
	return cards, sets, nil
}

func (s *Server) runDelete(c echo.Context) error {
	rid, err := id(c, "id")
	if err != nil {
		return err
	}
	if err := s.deleteRun(c, rid); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

func (s *Server) dashboard(c echo.Context) error {
	cards, sets, err := s.runCards(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.Dashboard(s.page(c, "GAN Studio"), cards, sets))
}

func (s *Server) runCardsPanel(c echo.Context) error {
	cards, _, err := s.runCards(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.RunCards(cards))
}

// jsonRun is a run as the API shows it.
type jsonRun struct {
	ID        int64            `json:"id"`
	DatasetID int64            `json:"dataset_id"`
	State     string           `json:"state"`
	Step      int              `json:"step"`
	Steps     int              `json:"steps"`
	ETASecs   float64          `json:"eta_seconds"`
	Device    string           `json:"device"`
	Error     string           `json:"error,omitempty"`
	Config    jsonConfig       `json:"config"`
	Metrics   *jsonMetrics     `json:"metrics"`
	Snapshots []store.Snapshot `json:"snapshots,omitempty"`
	// BestStep and BestSWD are the best step by quality whose checkpoint
	// is kept, when one was measured: what generate draws from by default.
	BestStep *int     `json:"best_step,omitempty"`
	BestSWD  *float64 `json:"best_swd,omitempty"`
	// Health is the latest judged collapse check (full view only).
	Health *spec.HealthReport `json:"health,omitempty"`
	// Feedback is what training made of the run's ratings (full view only).
	Feedback *store.FeedbackStatus `json:"feedback,omitempty"`
	Created  string                `json:"created"`
}

// jsonConfig is a run's settings with the API's field names.
type jsonConfig struct {
	Res            int     `json:"res"`
	Width          float64 `json:"width"`
	ZDim           int     `json:"z_dim"`
	Batch          int     `json:"batch"`
	LRG            float64 `json:"lr_g"`
	LRD            float64 `json:"lr_d"`
	Beta1          float64 `json:"beta1"`
	Beta2          float64 `json:"beta2"`
	Seed           uint64  `json:"seed"`
	SnapshotEvery  int     `json:"snapshot_every"`
	EvalEvery      int     `json:"eval_every"`
	KeepEvery      int     `json:"keep_every"`
	FeedbackWeight float64 `json:"feedback_weight"`
	CollapsePolicy string  `json:"collapse_policy"`
	// Augment is "auto", "off" or the fixed strength, as POST takes it.
	Augment       string  `json:"augment"`
	EMA           float64 `json:"ema"` // the generator average's half-life in images; 0 none
	Mirror        bool    `json:"mirror"`
	StopWhenStale bool    `json:"stop_when_stale"`
	Loss          string  `json:"loss"`    // "ns" (non-saturating) or "hinge"
	DWidth        float64 `json:"d_width"` // the discriminator's channel multiplier
	MBStd         bool    `json:"mbstd"`   // the batch's spread as a channel in D
}

func toJSONConfig(c store.RunConfig) jsonConfig {
	return jsonConfig{Res: c.Res, Augment: c.Augment.String(), EMA: c.EMA, Mirror: c.Mirror, Width: c.Width, ZDim: c.ZDim, Batch: c.Batch, LRG: c.LRG, LRD: c.LRD, Beta1: c.Beta1,
		Beta2: c.Beta2, Seed: c.Seed, SnapshotEvery: c.SnapshotEvery, EvalEvery: c.EvalEvery, KeepEvery: c.KeepEvery,
		FeedbackWeight: c.FeedbackWeight, CollapsePolicy: c.CollapsePolicy().Mode, StopWhenStale: c.StopWhenStale,
		Loss: cmp.Or(c.Loss, spec.LossNS), DWidth: c.DiscWidth(), MBStd: c.MBStd}
}

type jsonMetrics struct {
	Step  int     `json:"step"`
	LossD float64 `json:"loss_d"`
	LossG float64 `json:"loss_g"`
	DReal float64 `json:"d_real"`
	DFake float64 `json:"d_fake"`
	SWD   float64 `json:"swd,omitempty"`
	// AugP is the latest augmentation strength, RT ADA's r_t (see spec.Stats).
	AugP float64 `json:"aug_p"`
	RT   float64 `json:"r_t"`
}

func (s *Server) jsonRun(c echo.Context, r *store.Run, full bool) (jsonRun, error) {
	j := jsonRun{ID: r.ID, DatasetID: r.DatasetID, State: r.State, Step: r.Step, Steps: r.Steps,
		ETASecs: r.ETA().Seconds(), Device: r.Device, Error: r.Error, Config: toJSONConfig(r.Config), Created: r.Created.UTC().Format("2006-01-02T15:04:05Z")}
	b, err := s.best(c.Request().Context(), r.ID)
	if err != nil {
		return j, err
	}
	if b != nil {
		j.BestStep, j.BestSWD = &b.Step, &b.SWD
	}
	if !full {
		return j, nil
	}
	fb := r.Feedback
	j.Feedback = &fb
	ctx := c.Request().Context()
	ms, err := s.st.Metrics(ctx, r.ID)
	if err != nil {
		return j, err
	}
	if j.Snapshots, err = s.st.Snapshots(ctx, r.ID); err != nil {
		return j, err
	}
	if len(ms) > 0 {
		m := ms[len(ms)-1]
		j.Metrics = &jsonMetrics{Step: m.Step, LossD: m.LossD, LossG: m.LossG, DReal: m.DReal, DFake: m.DFake, AugP: m.AugP, RT: m.RT}
		for _, sn := range j.Snapshots {
			if sn.SWD >= 0 {
				j.Metrics.SWD = sn.SWD
			}
		}
	}
	for _, sn := range j.Snapshots {
		if sn.Health.Level != "" {
			h := sn.Health
			j.Health = &h
		}
	}
	return j, nil
}

// maxJSON bounds a JSON body: the largest real one is a few hundred bytes.
const maxJSON = 1 << 20

// decodeJSON reads a JSON body strictly: one object, unknown fields and
// wrong types refused with a message per field. An empty body is an object
// with no fields.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, maxJSON))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, end := dec.Token(); end != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("the body must be one JSON object of named fields, such as {\"n\": 4}, not %s", jsonKind(te.Value)))
		}
		return fieldErrors{te.Field: fmt.Sprintf("wrong type: want %s, not %s", wantOf(te.Type), jsonKind(te.Value))}
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return fieldErrors{strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`): "unknown field"}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return uploadErr(err)
	}
	return echo.NewHTTPError(http.StatusBadRequest, "the body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
}

// wantOf names what a Go field takes in words a person sending JSON knows.
func wantOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number from 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "text in quotes"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// jsonKind names what was sent, from encoding/json's description of it
// ("number 1.5", "string", "array").
func jsonKind(v string) string {
	switch {
	case strings.HasPrefix(v, "number"):
		if n := strings.TrimSpace(strings.TrimPrefix(v, "number")); n != "" {
			return "the number " + n
		}
		return "a number"
	case v == "string":
		return "text"
	case v == "bool":
		return "true or false"
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	}
	return v
}
