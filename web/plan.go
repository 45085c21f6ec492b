package web

import (
	"fmt"
	"math"
)

// RunPlan is what the new-run form offers for the chosen dataset and
// device: the sides it can train at, the goals, and how long the run
// would take.
type RunPlan struct {
	Resolutions []ResChoice
	Goals       []GoalChoice
	// Estimate is the run's expected time as the form stands ("1 500
	// steps at 32 px: about 25 minutes on this machine's CPU"); Basis
	// says where the figure comes from.
	Estimate string
	Basis    string
}

// ResChoice is one side the form offers, labelled with its time.
type ResChoice struct {
	Res   int    `json:"res"`
	Label string `json:"label"`
}

// GoalChoice is one goal, with the steps and snapshot interval it sets.
type GoalChoice struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Steps int    `json:"steps"`
	Every int    `json:"every"`
}

// Best is a run's best step by quality (lowest SWD) whose checkpoint is
// kept: what "generate" and downloads default to.
type Best struct {
	Step int
	SWD  float64
}

// Text names the best step for people: "step 300 (SWD 1.23)".
func (b *Best) Text() string { return fmt.Sprintf("step %d (SWD %s)", b.Step, trimFloat(b.SWD)) }

// BestIndex is the best step's place on the grid timeline, or -1.
func (v RunView) BestIndex() int {
	if v.Best == nil {
		return -1
	}
	for i, s := range v.Snapshots {
		if s.Step == v.Best.Step {
			return i
		}
	}
	return -1
}

// markBest marks a step on a chart: a line across the x axis at the step
// and the point at its value, in the chart's own coordinates.
func (c *Chart) markBest(step, value float64, label string) {
	if c.Empty || c.xmax <= 0 || c.hi <= c.lo {
		return
	}
	y := chartH - (math.Min(math.Max(value, c.lo), c.hi)-c.lo)/(c.hi-c.lo)*chartH
	c.Mark = &Mark{X: fmt.Sprintf("%.1f", step/c.xmax*chartW), Y: fmt.Sprintf("%.1f", y), Label: label}
}

// Mark is a marked point of a chart (the best step on the quality chart).
type Mark struct {
	X, Y  string
	Label string
}
