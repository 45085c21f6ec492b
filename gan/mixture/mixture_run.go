package mixture

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// ModesRun is one training run of the 2-D mixture benchmark, plain or under
// the collapse policy. The health detector watches both; only a run whose
// Policy.Mode is repair acts on it.
type ModesRun struct {
	Mix    Mixture
	MLP    MLPConfig
	Steps  int // training steps that count (rolled-back steps are redone)
	Every  int // steps between health checks
	CheckN int // samples per health check, from one fixed latent batch
	EvalN  int // samples of the final evaluation (the papers use 2 500)
	Policy spec.Policy
	// CollapseNDB raises a health report to collapsed when its NDB share
	// reaches it (0: off). The shared thresholds in gan/health.go were set on
	// images, where NDB only warns; on a mixture NDB is the sign that
	// modes are missing or crowded, and a diversity ratio stays high when
	// a few far-apart modes survive.
	CollapseNDB float64
	// CollapsePrecision raises a health report to collapsed when fewer
	// than this share of its samples lie in the real data's support (0:
	// off): a generator can cover every mode and still spread most of its
	// samples between them, which diversity and NDB do not see.
	CollapsePrecision float64
	// Remedies are applied after rollback number 1, 2, … in turn (the last
	// one repeats).
	Remedies []Remedy
	// LongerRetries judges a run again only after try+1 warm-ups past a
	// rollback: a remedied run can take longer than a fresh one to look
	// healthy (D lr 1e-3 from step 0 on the grid: 30% high-quality samples
	// at step 3 500, 64% at 5 000).
	LongerRetries bool
	// DecayFrom, if in (0, 1), is the share of Steps after which both
	// learning rates fall linearly to zero at the last step.
	DecayFrom float64
}

// ModesCheck is one health check: what the detector said and what the
// known modes say.
type ModesCheck struct {
	Step   int               `json:"step"`
	Modes  int               `json:"modes"` // captured by the check's samples
	HQ     float64           `json:"hq"`
	Health spec.HealthReport `json:"health"`
	// Truth is the ground truth: collapsed when the check's samples
	// capture fewer than all modes.
	Truth  bool   `json:"truth_collapsed"`
	Judged bool   `json:"judged"` // after the warm-up
	Action string `json:"action,omitempty"`
}

// ModesResult is a finished run.
type ModesResult struct {
	Final     MixtureScore `json:"final"`
	Checks    []ModesCheck `json:"checks"`
	Rollbacks []string     `json:"rollbacks,omitempty"`
	StepsRun  int          `json:"steps_run"` // including steps redone after rollbacks
	Seconds   float64      `json:"seconds"`
	Config    MLPConfig    `json:"config"` // in force at the end, remedies included
}

// Validate reports the first setting that cannot work.
func (r ModesRun) Validate() error {
	switch {
	case len(r.Mix.Means) == 0:
		return fmt.Errorf("modes run: no mixture")
	case r.Steps < 1 || r.Every < 1 || r.CheckN < 2 || r.EvalN < 1:
		return fmt.Errorf("modes run: steps, check interval, check and evaluation sizes must be positive")
	}
	if err := r.Policy.Validate(); err != nil {
		return err
	}
	return r.MLP.Validate()
}

// assess is the detector: the shared judgement, plus the mixture's NDB
// threshold.
func (r ModesRun) assess(ref gan.Reference, fake []float32) spec.HealthReport {
	h := ref.Assess(points(fake))
	if r.CollapseNDB > 0 && h.NDB >= r.CollapseNDB {
		h.Level = spec.Collapsed
	}
	if h.Precision < r.CollapsePrecision {
		h.Level = spec.Collapsed
		h.Reason = strings.TrimPrefix(h.Reason+fmt.Sprintf("; only %.0f%% of samples lie where the data does", 100*h.Precision), "; ")
	}
	return h
}

// RunModes trains one run and scores it. progress, if not nil, hears about
// every check.
func RunModes(ctx context.Context, r ModesRun, progress func(ModesCheck)) (ModesResult, error) {
	if err := r.Validate(); err != nil {
		return ModesResult{}, err
	}
	t0 := time.Now()
	m, err := NewMLPGAN(r.MLP, r.Mix)
	if err != nil {
		return ModesResult{}, err
	}
	defer m.Close()
	seed := r.MLP.Seed
	ref := gan.NewReference(points(r.Mix.Sample(r.CheckN, rand.New(rand.NewPCG(seed, 101)))), len(r.Mix.Means), seed)
	fixedZ := gan.RandomLatents(r.CheckN, r.MLP.ZDim, seed^0xc0ffee)
	guard := spec.NewGuard(r.Policy)
	repair := r.Policy.Mode == spec.PolicyRepair
	healthy, err := m.Save() // the start of training is the first safe point
	if err != nil {
		return ModesResult{}, err
	}
	// A remedied run starts its learning again from the rollback point and
	// looks collapsed for a while, as a fresh one does; it gets the warm-up
	// again before it is judged (try+1 warm-ups with LongerRetries), or the
	// next try would be spent on a run that was only young.
	judgeFrom := 0
	var res ModesResult
	for m.Step() < r.Steps {
		if from := int(r.DecayFrom * float64(r.Steps)); r.DecayFrom > 0 && m.Step() >= from {
			f := float64(r.Steps-m.Step()) / float64(r.Steps-from)
			m.optG.LR, m.optD.LR = m.cfg.LRG*f, m.cfg.LRD*f
		}
		if _, err := m.TrainStep(ctx); err != nil {
			return res, err
		}
		res.StepsRun++
		if m.Step()%r.Every != 0 {
			continue
		}
		fake := m.Generate(fixedZ)
		sc := r.Mix.Score(fake)
		c := ModesCheck{Step: m.Step(), Modes: sc.Modes, HQ: sc.HQ, Truth: sc.Modes < len(r.Mix.Means)}
		c.Health = r.assess(ref, fake)
		// The plain arm is judged by a guard of its own in warn mode, so
		// both arms count alarms the same way.
		var d spec.Decision
		if m.Step() >= judgeFrom {
			d = guard.Observe(m.Step(), c.Health)
		}
		c.Judged = d.Judged
		if repair && d.Judged && c.Health.Level == spec.Healthy {
			if healthy, err = m.Save(); err != nil {
				return res, err
			}
		}
		if repair && d.Rollback {
			rem := Remedy{}
			if len(r.Remedies) > 0 {
				rem = r.Remedies[min(d.Try, len(r.Remedies))-1]
			}
			if err := m.Restore(healthy); err != nil {
				return res, err
			}
			if err := rem.Apply(m); err != nil {
				return res, err
			}
			judgeFrom = healthy.Step() + r.Policy.WarmUp
			if r.LongerRetries {
				judgeFrom += r.Policy.WarmUp * d.Try
			}
			c.Action = fmt.Sprintf("rollback to %d, %s", healthy.Step(), rem)
			res.Rollbacks = append(res.Rollbacks, fmt.Sprintf("step %d → %d: %s", c.Step, healthy.Step(), rem))
		}
		res.Checks = append(res.Checks, c)
		if progress != nil {
			progress(c)
		}
	}
	z := gan.RandomLatents(r.EvalN, r.MLP.ZDim, seed^0xe7a1)
	res.Final = r.Mix.Score(m.Generate(z))
	res.Config = m.Config()
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// DetectorCounts tallies judged checks: an alarm is a collapsed health
// level; the truth is a check whose samples miss a mode.
type DetectorCounts struct {
	Hits          int `json:"hits"`           // alarm, modes missing
	Misses        int `json:"misses"`         // no alarm, modes missing
	FalseAlarms   int `json:"false_alarms"`   // alarm, all modes present
	CorrectSilent int `json:"correct_silent"` // no alarm, all modes present
}

// Add counts the judged checks of a run.
func (d *DetectorCounts) Add(checks []ModesCheck) {
	for _, c := range checks {
		if !c.Judged {
			continue
		}
		alarm := c.Health.Level == spec.Collapsed
		switch {
		case alarm && c.Truth:
			d.Hits++
		case !alarm && c.Truth:
			d.Misses++
		case alarm:
			d.FalseAlarms++
		default:
			d.CorrectSilent++
		}
	}
}
