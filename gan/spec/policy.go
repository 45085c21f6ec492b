package spec

import "fmt"

// Policy says what a run does about mode collapse.
type Policy struct {
	// Mode is "repair" (roll back and apply a remedy; the default),
	// "warn" (judge and raise events only) or "off" (judge nothing).
	Mode string `json:"mode"`
	// WarmUp is the step before which nothing is judged: an untrained
	// generator maps every latent to nearly the same image and would
	// score as collapsed.
	WarmUp int `json:"warm_up"`
	// Confirm is how many collapsed checks in a row confirm a collapse
	// (warnings between them neither count nor break the run of them).
	Confirm int `json:"confirm"`
	// MaxTries is how many rollbacks are tried before giving up.
	MaxTries int `json:"max_tries"`
}

// Policy modes.
const (
	PolicyRepair = "repair"
	PolicyWarn   = "warn"
	PolicyOff    = "off"
)

// DefaultPolicy repairs, after a warm-up of 200 steps, on two collapsed
// checks in a row, at most three times.
func DefaultPolicy() Policy {
	return Policy{Mode: PolicyRepair, WarmUp: 200, Confirm: 2, MaxTries: 3}
}

// Validate reports the first setting that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.Mode != PolicyRepair && p.Mode != PolicyWarn && p.Mode != PolicyOff:
		return fmt.Errorf("collapse policy must be %s, %s or %s, got %q", PolicyRepair, PolicyWarn, PolicyOff, p.Mode)
	case p.WarmUp < 0:
		return fmt.Errorf("warm-up must not be negative, got %d", p.WarmUp)
	case p.Confirm < 1 || p.Confirm > 10:
		return fmt.Errorf("checks to confirm a collapse must be in [1, 10], got %d", p.Confirm)
	case p.MaxTries < 0 || p.MaxTries > 10:
		return fmt.Errorf("repair tries must be in [0, 10], got %d", p.MaxTries)
	}
	return nil
}

// Guard applies a Policy to a run's health checks, in step order. It is
// plain state (it can be rebuilt from stored checks) and knows nothing of
// networks: the trainer it guards does the rolling back.
type Guard struct {
	P Policy
	// LastHealthy is the step of the latest healthy check (0, the start of
	// training, until there is one). Whoever acts on a rollback must be
	// able to return to it: the caller keeps that state.
	LastHealthy int
	Streak      int  // collapsed checks in a row
	Tries       int  // rollbacks so far
	GaveUp      bool // tries exhausted; the run is only watched from now on
}

// NewGuard starts guarding a run from its beginning.
func NewGuard(p Policy) *Guard { return &Guard{P: p} }

// Decision is what a health check asks of the trainer.
type Decision struct {
	Judged   bool // false during the warm-up, or with the policy off
	Collapse bool // a collapse is confirmed at this check
	Rollback bool // roll back to ToStep, then apply remedy number Try
	ToStep   int
	Try      int    // 1-based
	GiveUp   bool   // collapse confirmed with no tries left (said once)
	Message  string // for the run's events; "" when there is nothing to say
}

// Observe takes the health check of step and says what to do.
func (g *Guard) Observe(step int, h HealthReport) Decision {
	if g.P.Mode == PolicyOff || step < g.P.WarmUp {
		return Decision{}
	}
	d := Decision{Judged: true}
	switch h.Level {
	case Healthy:
		g.LastHealthy, g.Streak = step, 0
		return d
	case Warning:
		return d
	}
	g.Streak++
	if g.Streak < g.P.Confirm {
		return d
	}
	d.Collapse = true
	g.Streak = 0
	switch {
	case g.P.Mode == PolicyWarn:
		d.Message = fmt.Sprintf("Mode collapse at step %d: %s.", step, h.Reason)
	case g.Tries < g.P.MaxTries:
		g.Tries++
		d.Rollback, d.ToStep, d.Try = true, g.LastHealthy, g.Tries
		d.Message = fmt.Sprintf("Mode collapse at step %d: %s. Rolling back to step %d (try %d of %d).",
			step, h.Reason, g.LastHealthy, g.Tries, g.P.MaxTries)
	case !g.GaveUp:
		g.GaveUp, d.GiveUp = true, true
		held := "The repair did not hold"
		if g.Tries != 1 {
			held = fmt.Sprintf("%d repairs did not hold", g.Tries)
		}
		d.Message = fmt.Sprintf("Mode collapse at step %d: %s. %s; training goes on unrepaired. "+
			"Try a lower generator learning rate, a larger batch or more images.", step, h.Reason, held)
	}
	return d
}
