// Package web holds the studio's pages, written with templ: small typed
// components composed into pages, rendered by server/.
package web

//go:generate go tool templ generate

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// Page is what every page's layout needs.
type Page struct {
	Title string
	CSRF  string
	Path  string
	// User is who is signed in ("" with no accounts on a loopback studio);
	// Admin whether they run the studio's accounts.
	User  string
	Admin bool
}

// HXHeaders makes htmx send the CSRF token with every request it makes.
func (p Page) HXHeaders() string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": p.CSRF})
	return string(b)
}

// RunForm holds the new-run form's fields as typed.
type RunForm map[string]string

// AugmentMode is the augmentation choice the form shows: auto, off or
// fixed (the "augment" field holds a fixed one's strength).
func (f RunForm) AugmentMode() string {
	if m := f["augment_mode"]; m != "" {
		return m
	}
	switch a := f["augment"]; a {
	case "", spec.AugAuto:
		return spec.AugAuto
	case spec.AugOff:
		return spec.AugOff
	}
	return spec.AugFixed
}

// augmentHelp is the augmentation field's help: what auto does, and that
// a GPU run goes without (its kernels have none yet).
func augmentHelp(devices []string) string {
	h := "for small sets: auto raises the strength as D starts to memorise the images"
	if len(devices) > 0 {
		h += "; GPU runs: off for now"
	}
	return h
}

// Box reads a tick box's value: "1" (or "on") from the form when ticked,
// true or false from the API, nothing when not ticked; ok is false for
// anything else.
func Box(v string) (on, ok bool) {
	switch v {
	case "", "0", "false", "off":
		return false, true
	case "1", "true", "on":
		return true, true
	}
	return false, false
}

// Ticked is whether the form's box k is ticked.
func (f RunForm) Ticked(k string) bool {
	on, _ := Box(f[k])
	return on
}

// checked is a box's value in the form: "1" ticked, "" not.
func checked(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// advancedErrors says whether a field under the form's "Advanced"
// disclosure has a message, so the disclosure opens to show it.
func advancedErrors(errs map[string]string) bool {
	for _, k := range []string{"width", "batch", "lr_g", "lr_d", "seed", "snapshot_every", "collapse_policy", "feedback_weight", "loss", "mbstd"} {
		if errs[k] != "" {
			return true
		}
	}
	return false
}

// AugmentP is the fixed strength the form shows, as typed.
func (f RunForm) AugmentP() string {
	if f.AugmentMode() != spec.AugFixed {
		return f["augment_p"]
	}
	if p, ok := f["augment_p"]; ok {
		return p
	}
	return f["augment"]
}

// RunView is what the run page shows.
type RunView struct {
	Run       *store.Run
	Dataset   *store.Dataset
	Metrics   []spec.Stats
	Snapshots []store.Snapshot
	Events    []store.Event
	Liked     int
	Disliked  int
	// Best is the best step by quality with a kept checkpoint, or nil.
	Best *Best
}

// LastGrid is the step of the newest grid, or -1.
func (v RunView) LastGrid() int {
	if len(v.Snapshots) == 0 {
		return -1
	}
	return v.Snapshots[len(v.Snapshots)-1].Step
}

// GridSteps lists the steps that have grids, for the timeline slider.
func (v RunView) GridSteps() string {
	steps := make([]int, len(v.Snapshots))
	for i, s := range v.Snapshots {
		steps[i] = s.Step
	}
	b, _ := json.Marshal(steps)
	return string(b)
}

// RunCard is one run on the dashboard.
type RunCard struct {
	Run      *store.Run
	Dataset  string
	LastGrid int
	Health   Health
}

// GalleryView is the samples page.
type GalleryView struct {
	Run       *store.Run
	Samples   []*store.Sample
	Total     int
	Page      int
	PerPage   int
	Steps     []int
	Step      string
	Rating    string
	Snapshots []store.Snapshot
	// Best is the step "generate" draws from unless told otherwise, or nil.
	Best *Best
}

// RateView is a rating session's page: the run's session samples not
// rated yet, uncertain ones first.
type RateView struct {
	Run     *store.Run
	Samples []*store.Sample
	Left    int // session samples not rated yet, of which Samples shows the first
	Rated   int // the run's rated samples, of any origin
}

// Pages is the number of pages.
func (g GalleryView) Pages() int { return max(1, (g.Total+g.PerPage-1)/g.PerPage) }

// PageURL links to another page with the same filters.
func (g GalleryView) PageURL(page int) string {
	return fmt.Sprintf("/runs/%d/samples?step=%s&rating=%s&page=%d", g.Run.ID, g.Step, g.Rating, page)
}

// Health is a short judgement of how training goes, for a badge.
type Health struct {
	Level string // ok, warn, bad, none
	Text  string
}

// HealthOf is the run's latest mode-collapse judgement.
func HealthOf(r *store.Run, snaps []store.Snapshot) Health {
	p := r.Config.CollapsePolicy()
	if p.Mode == spec.PolicyOff {
		return Health{"none", "the collapse monitor is off for this run"}
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		h, step := snaps[i].Health, snaps[i].Step
		switch h.Level {
		case spec.Healthy:
			return Health{"ok", fmt.Sprintf("step %d: samples %.0f%% as varied as the training images, no near-copies to speak of", step, 100*h.Diversity)}
		case spec.Warning:
			return Health{"warn", fmt.Sprintf("step %d: %s", step, h.Reason)}
		case spec.Collapsed:
			return Health{"bad", fmt.Sprintf("step %d: %s", step, h.Reason)}
		}
	}
	return Health{"none", fmt.Sprintf("judged from step %d on: an untrained generator makes one image for every latent", p.WarmUp)}
}

// Health is the run's latest mode-collapse judgement.
func (v RunView) Health() Health { return HealthOf(v.Run, v.Snapshots) }

// CheckpointSteps lists the steps a run can be rolled back to.
func (v RunView) CheckpointSteps() string {
	steps := []int{}
	for _, s := range v.Snapshots {
		if s.Checkpoint {
			steps = append(steps, s.Step)
		}
	}
	b, _ := json.Marshal(steps)
	return string(b)
}

// CanRollback says whether the run is still enough to roll back now.
func (v RunView) CanRollback() bool {
	return v.Run.State != store.Running && v.Run.State != store.Queued
}

// CanRollbackTo says whether the run can go back to step now: the same
// rule the timeline's script applies as the slider moves.
func (v RunView) CanRollbackTo(step int) bool {
	if !v.CanRollback() {
		return false
	}
	for _, s := range v.Snapshots {
		if s.Step == step {
			return s.Checkpoint
		}
	}
	return false
}

// Progress is the share of steps done, 0 to 100.
func Progress(r *store.Run) int {
	if r.Steps == 0 {
		return 0
	}
	return r.Step * 100 / r.Steps
}

// ETA says how long is left, in words.
func ETA(r *store.Run) string {
	switch r.State {
	case store.Running:
		if d := r.ETA(); d > 0 {
			return "about " + Duration(d) + " left"
		}
		return "estimating…"
	case store.Queued:
		if OffCPU(r) {
			// Only a worker for its device takes it; say which to start.
			return "waiting for a " + DeviceLabel(r.Device) + " worker"
		}
		return "waiting for a worker"
	case store.Paused:
		return "paused"
	case store.Done:
		return "finished " + Ago(r.Finished)
	case store.Cancelled:
		return "cancelled " + Ago(r.Finished)
	case store.Failed:
		return "failed"
	}
	return ""
}

// Duration prints a duration the way people say it.
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Ago prints how long ago t was.
func Ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	if d < time.Minute {
		return "just now"
	}
	return Duration(d.Truncate(time.Minute)) + " ago"
}

// Bytes prints a size.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ModelSizes are the width multipliers the form offers.
var ModelSizes = []struct{ Value, Label string }{
	{"0.25", "Small — fastest, for trying things"},
	{"0.5", "Medium"},
	{"1", "Large — the reference DCGAN"},
	{"2", "Extra large — slow on a CPU"},
}

// Series is one line of a chart.
type Series struct {
	Name   string
	Class  string
	Points string // SVG polyline points
	Last   string
}

// Chart is a small line chart drawn as SVG on the server.
type Chart struct {
	Title  string
	Series []Series
	YMin   string
	YMax   string
	XMax   string
	Empty  bool
	// Note says how to read the chart, for figures few people know.
	Note string
	// Mark is a point to pick out (the best step), or nil.
	Mark *Mark
	// The scale the points were drawn to, for marking a point later.
	lo, hi, xmax float64
}

const chartW, chartH = 600.0, 160.0

// LineChart scales the series (x, y pairs) into one chart, averaging
// them down to at most 300 points each.
func LineChart(title string, names, classes []string, xs [][]float64, ys [][]float64, fixedMin, fixedMax *float64) Chart {
	c := Chart{Title: title}
	lo, hi, xmax := math.Inf(1), math.Inf(-1), 1.0
	for i := range ys {
		for j, y := range ys[i] {
			if math.IsNaN(y) || math.Abs(y) > 1e29 {
				continue
			}
			lo, hi = math.Min(lo, y), math.Max(hi, y)
			xmax = math.Max(xmax, xs[i][j])
		}
	}
	if math.IsInf(lo, 1) {
		c.Empty = true
		return c
	}
	if fixedMin != nil {
		lo = *fixedMin
	}
	if fixedMax != nil {
		hi = *fixedMax
	}
	if hi-lo < 1e-9 {
		hi = lo + 1
	}
	c.YMin, c.YMax, c.XMax = trimFloat(lo), trimFloat(hi), fmt.Sprint(int(xmax))
	c.lo, c.hi, c.xmax = lo, hi, xmax
	for i := range ys {
		var b strings.Builder
		n := len(ys[i])
		per := max(1, (n+299)/300)
		for j := 0; j < n; j += per {
			var sx, sy float64
			k := 0
			for m := j; m < min(n, j+per); m++ {
				sx += xs[i][m]
				sy += ys[i][m]
				k++
			}
			x := sx / float64(k) / xmax * chartW
			y := chartH - (math.Min(math.Max(sy/float64(k), lo), hi)-lo)/(hi-lo)*chartH
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		last := ""
		if n > 0 {
			last = trimFloat(ys[i][n-1])
		}
		c.Series = append(c.Series, Series{Name: names[i], Class: classes[i], Points: b.String(), Last: last})
	}
	return c
}

func trimFloat(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// Charts of a run: losses, D's outputs, quality.
func (v RunView) Charts() []Chart {
	n := len(v.Metrics)
	x := make([]float64, n)
	ld, lg, dr, df := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, m := range v.Metrics {
		x[i], ld[i], lg[i], dr[i], df[i] = float64(m.Step), m.LossD, m.LossG, m.DReal, m.DFake
	}
	zero, one := 0.0, 1.0
	var qx, qy, fy []float64
	for _, s := range v.Snapshots {
		if s.SWD >= 0 {
			qx, qy, fy = append(qx, float64(s.Step)), append(qy, s.SWD), append(fy, s.SWDFloor)
		}
	}
	var hx, div, dup, ndb []float64
	for _, s := range v.Snapshots {
		if h := s.Health; h.Diversity >= 0 {
			hx, div, dup, ndb = append(hx, float64(s.Step)), append(div, h.Diversity), append(dup, h.Duplicates), append(ndb, h.NDB)
		}
	}
	out := []Chart{
		LineChart("Diversity (1 = as varied as the training images)", []string{"diversity", "near-copies", "regions off (NDB)"},
			[]string{"s3", "s2", "s1"}, [][]float64{hx, hx, hx}, [][]float64{div, dup, ndb}, &zero, nil),
		LineChart("Losses", []string{"D loss", "G loss"}, []string{"s1", "s2"}, [][]float64{x, x}, [][]float64{ld, lg}, &zero, nil),
		LineChart("Discriminator outputs", []string{"D(x)", "D(G(z))"}, []string{"s1", "s2"}, [][]float64{x, x}, [][]float64{dr, df}, &zero, &one),
	}
	if v.Run.Config.Augment.On() {
		out = append(out, v.augmentChart())
	}
	quality := LineChart("Quality (SWD, lower is better)", []string{"SWD", "real-vs-real floor"}, []string{"s3", "floor"},
		[][]float64{qx, qx}, [][]float64{qy, fy}, &zero, nil)
	if v.Best != nil {
		quality.markBest(float64(v.Best.Step), v.Best.SWD, "best "+v.Best.Text())
	}
	out = append(out, quality)
	if v.Run.Config.FeedbackWeight > 0 {
		var lx, ly []float64
		for _, s := range v.Snapshots {
			if s.LikedShare >= 0 {
				lx, ly = append(lx, float64(s.Step)), append(ly, s.LikedShare)
			}
		}
		out = append([]Chart{LineChart("Share of new samples the rating model likes (as fitted then)", []string{"liked share"}, []string{"s2"},
			[][]float64{lx}, [][]float64{ly}, &zero, &one)}, out...)
	}
	return out
}

// augmentChart draws ADA's two figures on one scale: r_t, how sure the
// discriminator is of the real images (with auto's target), and the
// strength that answers it, so the strength is seen to rise as r_t passes
// the target.
func (v RunView) augmentChart() Chart {
	aug := v.Run.Config.Augment
	var px, p, rx, rt []float64
	lo, one := 0.0, 1.0
	for _, m := range v.Metrics {
		px, p = append(px, float64(m.Step)), append(p, m.AugP)
		// r_t is first measured at the end of the first interval; before
		// it the engine reports 0, which is no measurement.
		if m.Step >= spec.AugInterval {
			rx, rt = append(rx, float64(m.Step)), append(rt, m.RT)
			lo = math.Min(lo, m.RT)
		}
	}
	names, classes := []string{"r_t", "strength"}, []string{"s1", "s3"}
	xs, ys := [][]float64{rx, px}, [][]float64{rt, p}
	if aug.Mode == spec.AugAuto {
		// The target as a line across the steps r_t covers.
		target := make([]float64, len(rx))
		for i := range target {
			target[i] = aug.Target
		}
		names, classes = append(names, "target"), append(classes, "floor")
		xs, ys = append(xs, rx), append(ys, target)
	}
	c := LineChart("Augmentation (ADA)", names, classes, xs, ys, &lo, &one)
	c.Note = fmt.Sprintf("r_t = E[sign D(x)]: near 1, the discriminator is sure of every real image, the sign of memorising them; "+
		"the strength (0 to 1) rises while r_t is above the target %g and falls below it.", aug.Target)
	if aug.Mode == spec.AugFixed {
		c.Title = "Augmentation (fixed strength)"
		c.Note = "r_t = E[sign D(x)]: near 1, the discriminator is sure of every real image, the sign of memorising them; " +
			"the strength stays where the run set it."
	}
	return c
}

// FeedbackText says what training has made of the run's ratings.
func (v RunView) FeedbackText() string {
	r := v.Run
	f := r.Feedback
	switch {
	case r.Config.FeedbackWeight <= 0:
		return "Feedback is off for this run (weight 0): ratings are kept, and steer nothing."
	case f.Since < 0:
		return fmt.Sprintf("Feedback is on (weight %.2g): rate samples and training takes them in within %d steps.", f.Weight, FeedbackEvery)
	}
	s := fmt.Sprintf("%d ratings in use (%d liked, %d disliked) since step %d; the latest taken in at step %d, %s.",
		f.Used(), f.Liked, f.Disliked, f.Since, f.ReadStep, Ago(f.ReadAt))
	if f.Model {
		s += fmt.Sprintf(" The rating model agrees with %.0f%% of them.", 100*f.ModelAccuracy)
	} else {
		s += fmt.Sprintf(" A rating model joins in at %d likes and %d dislikes.", spec.MinRatingsEach, spec.MinRatingsEach)
	}
	if ch := v.feedbackChange(); ch != "" {
		s += " " + ch
	}
	if f.Skipped > 0 {
		s += fmt.Sprintf(" %d rated samples could not be read and are left out.", f.Skipped)
	}
	if f.Weight != r.Config.FeedbackWeight {
		s += fmt.Sprintf(" Weight %.2g (the run started at %.2g; halved at each collapse repair).", f.Weight, r.Config.FeedbackWeight)
	}
	return s
}

// feedbackChange says what the ratings have changed: the share of new
// samples the rating model likes at the first snapshot it judged after
// ratings began steering, and at the latest; "" until there are two.
func (v RunView) feedbackChange() string {
	since := v.Run.Feedback.Since
	first, last := -1, -1
	for i, sn := range v.Snapshots {
		if sn.Step < since || sn.LikedShare < 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 || last == first {
		return ""
	}
	a, b := v.Snapshots[first], v.Snapshots[last]
	return fmt.Sprintf("New samples the rating model likes: %.0f%% at step %d, %.0f%% at step %d.", 100*a.LikedShare, a.Step, 100*b.LikedShare, b.Step)
}

// SessionSize mirrors jobs.DefaultSession (a server test checks the two
// agree).
const SessionSize = 16

// FeedbackEvery mirrors jobs.FeedbackEvery (web does not import jobs; a
// server test checks the two agree).
const FeedbackEvery = 20

// ModelSize is the networks' width multipliers, one figure where G's and
// D's are the same.
func ModelSize(g, d float64) string {
	if g == d {
		return fmt.Sprintf("%g×", g)
	}
	return fmt.Sprintf("G %g× · D %g×", g, d)
}

// LossText names a run's GAN loss.
func LossText(loss string) string {
	if loss == spec.LossHinge {
		return "hinge"
	}
	return "non-saturating"
}

// PrettyConfig lists a run's settings for people.
func PrettyConfig(r *store.Run) [][2]string {
	c := r.Config
	out := [][2]string{
		{"Resolution", fmt.Sprintf("%d×%d", c.Res, c.Res)},
		{"Model size", ModelSize(c.Width, c.DiscWidth())},
		{"Loss", LossText(c.Loss)},
		{"Batch spread in D (minibatch stddev)", onOff(c.MBStd)},
		{"Batch", fmt.Sprint(c.Batch)},
		{"Learning rates", fmt.Sprintf("G %g · D %g", c.LRG, c.LRD) + repaired(r)},
		{"Seed", fmt.Sprint(c.Seed)},
		{"Snapshots", fmt.Sprintf("every %d steps", c.SnapshotEvery)},
		{"Feedback weight", fmt.Sprint(c.FeedbackWeight)},
		{"Collapse policy", c.CollapsePolicy().Mode},
		{"Stop when quality stops improving", StaleText(c.StopWhenStale)},
		{"Augmentation", AugmentText(c.Augment)},
		{"Generator average", EMAText(c.EMA)},
		{"Mirrored images", onOff(c.Mirror)},
		{"Device", DeviceLabel(r.Device)},
	}
	if r.WorkerID != "" {
		// The worker that trains it now, or did last.
		out = append(out, [2]string{"Worker", r.WorkerID})
	}
	return out
}

// StaleText says whether a run ends once its quality stops improving.
func StaleText(stop bool) string {
	if !stop {
		return "no (trains all its steps)"
	}
	return fmt.Sprintf("yes, after %s steps without a better SWD", Thousands(Patience))
}

// Patience mirrors gan.DefaultPatience (web does not import gan; a server
// test checks the two agree).
const Patience = 1000

// AugmentText says what a run's augmentation is, in words.
func AugmentText(a spec.Augment) string {
	switch a.Mode {
	case spec.AugAuto:
		return fmt.Sprintf("auto (ADA: the strength follows r_t toward %g)", a.Target)
	case spec.AugFixed:
		return fmt.Sprintf("fixed at strength %g", a.P)
	}
	return "off"
}

// EMAText says what a run's generator average is, in words.
func EMAText(halfLife float64) string {
	if halfLife <= 0 {
		return "off (images from the live weights)"
	}
	return fmt.Sprintf("half-life %s images", Thousands(int64(halfLife)))
}

// Thousands writes n with a space between groups of three digits, as
// the form's help texts write numbers: a no-break space, so that a number
// is never split across lines.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "\u00a0" + s[i:]
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// repaired notes that collapse repairs changed the run's settings since it
// started (the events say how).
func repaired(r *store.Run) string {
	if r.Guard.Tries == 0 {
		return ""
	}
	return fmt.Sprintf(" at the start; %s since (see events)", Plural(r.Guard.Tries, "repair"))
}

// OffCPU says whether the run is for a device besides the CPU.
func OffCPU(r *store.Run) bool { return r.Device != "" && r.Device != spec.CPU }

// DeviceLabel names a device for people: "CPU", "GPU (cuda)", and the
// test builds' emulated GPU "GPU emulator (emu)".
func DeviceLabel(d string) string {
	switch d {
	case "", spec.CPU:
		return "CPU"
	case "emu":
		return "GPU emulator (emu)"
	}
	return "GPU (" + d + ")"
}

// DefaultRunForm starts a good run on a 2-core machine in minutes: the
// reference DCGAN at 32×32 for 500 steps (where the built-in emoji set
// reaches its best quality in our measurements), with the studio's
// augmentation steered by ADA (spec.Studio). The seed differs each time.
func DefaultRunForm(datasetID int64) RunForm {
	return RunForm{
		"dataset_id": fmt.Sprint(datasetID), "res": "32", "width": "1", "steps": "500", "batch": "64",
		"lr_g": "0.0002", "lr_d": "0.0002", "seed": fmt.Sprint(time.Now().UnixNano() % 1_000_000), "feedback_weight": "0.5",
		"snapshot_every": "50", "collapse_policy": spec.PolicyRepair, "device": spec.CPU, "augment": spec.AugAuto,
		"loss": spec.LossNS, "mbstd": checked(spec.Studio(32).MBStd),
	}
}

// rateVals is the rating a button sends: pressing the current rating again
// clears it.
func rateVals(current, button int) string {
	v := button
	if current == button {
		v = 0
	}
	return fmt.Sprintf(`{"value": %d}`, v)
}

// Plural says "1 file", "2 files".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// SideList names image sides for a sentence: "32, 64 or 128".
func SideList(sides []int) string {
	var b strings.Builder
	for i, s := range sides {
		switch {
		case i == 0:
		case i == len(sides)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, s)
	}
	return b.String()
}

// refreshWhileActive is the run list's htmx trigger: a poll every 5 s while
// a run may change on its own, none otherwise.
func refreshWhileActive(runs []RunCard) string {
	for _, c := range runs {
		if c.Run.State == store.Queued || c.Run.State == store.Running {
			return "every 5s"
		}
	}
	return "none"
}
