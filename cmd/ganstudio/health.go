package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// healthCase is one image run the collapse monitor is tried on.
type healthCase struct {
	Name     string  `json:"name"`
	LRG      float64 `json:"lr_g"`
	LRD      float64 `json:"lr_d"`
	Collapse bool    `json:"made_to_collapse"`
}

// healthCases: the studio's default run, and the same run with learning
// rates a designer might type by mistake (G 10× too high, D 200× too low),
// which collapses within 50 steps here.
var healthCases = []healthCase{
	{Name: "healthy", LRG: 2e-4, LRD: 2e-4},
	{Name: "collapse", LRG: 2e-3, LRD: 1e-6, Collapse: true},
}

// healthCheck is one health check of a run.
type healthCheck struct {
	Step       int     `json:"step"`
	Level      string  `json:"level"` // "" before the warm-up ends
	Diversity  float64 `json:"diversity"`
	Duplicates float64 `json:"duplicates"`
	NDB        float64 `json:"ndb"`
	Precision  float64 `json:"precision"`
	Action     string  `json:"action,omitempty"`
}

// healthResult is what 'ganstudio bench health' reports per run.
type healthResult struct {
	Case       healthCase    `json:"case"`
	Seed       uint64        `json:"seed"`
	Steps      int           `json:"steps"`
	Trained    int           `json:"trained"`     // steps trained, counting those trained again
	FirstAlarm int           `json:"first_alarm"` // step of the first confirmed collapse, -1 if none
	Alarms     int           `json:"alarms"`      // confirmed collapses
	Warnings   int           `json:"warnings"`    // checks judged "warning"
	Rollbacks  int           `json:"rollbacks"`   // repairs applied
	FinalLevel string        `json:"final_level"` // the last check's judgement
	FinalSWD   float64       `json:"final_swd"`   // quality at the end
	Checks     []healthCheck `json:"checks"`
}

// healthCmd trains the cases with GAN Studio's collapse policy, as the
// worker does (health check at every snapshot, rollback to the last
// healthy checkpoint with a remedy), and reports alarms and repairs.
func healthCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench health", flag.ContinueOnError)
	steps := fs.Int("steps", 500, "train each run to this step")
	every := fs.Int("every", 50, "health check every N steps (the studio's snapshot interval)")
	seeds := fs.Int("seeds", 1, "seeds per case")
	first := fs.Uint64("first-seed", 1, "the first seed (then first+1, …)")
	cases := fs.String("cases", "healthy,collapse", "which cases: healthy, collapse")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *steps < 1 || *every < 1 || *seeds < 1 {
		return fmt.Errorf("--steps, --every and --seeds must be at least 1")
	}
	ds, err := datasets.Builtin("emoji", 32)
	if err != nil {
		return err
	}
	var out []healthResult
	for _, name := range strings.Split(*cases, ",") {
		var hc *healthCase
		for i := range healthCases {
			if healthCases[i].Name == strings.TrimSpace(name) {
				hc = &healthCases[i]
			}
		}
		if hc == nil {
			return fmt.Errorf("unknown case %q (have healthy, collapse)", name)
		}
		for seed := *first; seed < *first+uint64(*seeds); seed++ {
			r, err := watchRun(ctx, ds, *hc, seed, *steps, *every)
			if err != nil {
				return fmt.Errorf("%s, seed %d: %w", hc.Name, seed, err)
			}
			out = append(out, r)
		}
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	fmt.Printf("%-9s %4s %6s %8s %12s %7s %9s %9s %9s %6s\n", "case", "seed", "steps", "trained", "first alarm", "alarms", "warnings", "rollbacks", "final", "SWD")
	for _, r := range out {
		alarm := "none"
		if r.FirstAlarm >= 0 {
			alarm = fmt.Sprintf("step %d", r.FirstAlarm)
		}
		fmt.Printf("%-9s %4d %6d %8d %12s %7d %9d %9d %9s %6.1f\n", r.Case.Name, r.Seed, r.Steps, r.Trained, alarm, r.Alarms, r.Warnings, r.Rollbacks, r.FinalLevel, r.FinalSWD)
	}
	return nil
}

func watchRun(ctx context.Context, ds *datasets.Dataset, hc healthCase, seed uint64, steps, every int) (healthResult, error) {
	cfg := spec.DefaultConfig()
	cfg.LRG, cfg.LRD, cfg.Seed = hc.LRG, hc.LRD, seed
	m := &memoryRun{res: healthResult{Case: hc, Seed: seed, Steps: steps, FirstAlarm: -1}, ds: ds, checkpoints: map[int][]byte{},
		watch: gan.NewWatch(ds, seed, spec.Guard{P: spec.DefaultPolicy()})}
	tr, err := gan.NewTrainer(cfg, ds)
	if err != nil {
		return m.res, err
	}
	m.tr = tr
	// The studio's loop and policy, with the health check at every
	// snapshot and the quality figure at the end.
	loop := gan.NewLoop(tr, gan.Plan{Steps: steps, Fresh: true, SnapshotEvery: every, EvalEvery: steps,
		Base: cfg, Watch: m.watch}, m)
	err = loop.Run(ctx)
	loop.Trainer().Close()
	return m.res, err
}

// memoryRun is a run of 'bench health' kept in memory: the training loop's
// outside, counting the monitor's alarms and repairs; checkpoints are kept
// only as long as the guard may go back to them.
type memoryRun struct {
	res         healthResult
	ds          gan.Source
	watch       *gan.Watch
	checkpoints map[int][]byte // by step: the latest and the guard's way back
	// rolling is the check whose rollback's event is still to come.
	rolling *healthCheck
	// tr is the trainer the loop holds now (the one it started with, then
	// each checkpointed or rolled-back one), for onCheck.
	tr *gan.Trainer
	// onCheck, if set, is called at every health check with the check as
	// recorded (bench stacked adds its ground truth).
	onCheck func(tr *gan.Trainer, sn *gan.Snapshot, c *healthCheck) error
	// quiet keeps the per-check line off stderr.
	quiet bool
}

func (m *memoryRun) Record(_ context.Context, steps []spec.Stats, _ float64) (gan.Ask, bool, error) {
	m.res.Trained += len(steps)
	return gan.AskNothing, true, nil
}

func (m *memoryRun) Ratings(context.Context, *gan.Trainer, bool) (*gan.RatingModel, error) {
	return nil, nil
}

func (m *memoryRun) Snapshot(_ context.Context, sn *gan.Snapshot) error {
	if sn.Final && sn.SWD >= 0 {
		m.res.FinalSWD = round1(sn.SWD)
	}
	h, d := sn.Health, sn.Decision
	if h == nil {
		return nil
	}
	c := healthCheck{Step: sn.Step, Level: h.Level, Diversity: h.Diversity, Duplicates: h.Duplicates, NDB: h.NDB, Precision: h.Precision}
	if d.Judged {
		m.res.FinalLevel = h.Level
	}
	if c.Level == spec.Warning {
		m.res.Warnings++
	}
	if d.Collapse {
		m.res.Alarms++
		if m.res.FirstAlarm < 0 {
			m.res.FirstAlarm = sn.Step
		}
	}
	if d.GiveUp {
		c.Action = d.Message
	}
	if !m.quiet {
		fmt.Fprintf(os.Stderr, "%s seed %d: step %d %s diversity %.2f near-copies %.2f NDB %.2f precision %.2f\n",
			m.res.Case.Name, m.res.Seed, sn.Step, orDash(c.Level), h.Diversity, h.Duplicates, h.NDB, h.Precision)
	}
	if m.onCheck != nil {
		if err := m.onCheck(m.tr, sn, &c); err != nil {
			return err
		}
	}
	m.res.Checks = append(m.res.Checks, c)
	if d.Rollback {
		m.rolling = &m.res.Checks[len(m.res.Checks)-1]
	}
	return nil
}

func (m *memoryRun) Checkpoint(_ context.Context, tr *gan.Trainer, _ bool) error {
	m.tr = tr
	var b bytes.Buffer
	if err := tr.WriteCheckpoint(&b); err != nil {
		return err
	}
	m.checkpoints[tr.Step()] = b.Bytes()
	for s := range m.checkpoints {
		if s != tr.Step() && (m.watch == nil || s != m.watch.Guard.LastHealthy) {
			delete(m.checkpoints, s)
		}
	}
	return nil
}

func (m *memoryRun) Restore(_ context.Context, step int) (*gan.Trainer, error) {
	b, ok := m.checkpoints[step]
	if !ok {
		return nil, fmt.Errorf("%w: step %d", gan.ErrNoCheckpoint, step)
	}
	return gan.ReadCheckpoint(bytes.NewReader(b), m.ds)
}

func (m *memoryRun) RolledBack(ctx context.Context, tr *gan.Trainer, d spec.Decision) (string, error) {
	m.res.Rollbacks++
	return "", m.Checkpoint(ctx, tr, false)
}

func (m *memoryRun) Samples(context.Context, *gan.Generator, int, int, bool) error { return nil }

func (m *memoryRun) Event(_ context.Context, _ int, kind, msg string) {
	if kind == gan.EventRepair && m.rolling != nil {
		m.rolling.Action, m.rolling = msg, nil
	}
	if kind == gan.EventRepair {
		fmt.Fprintln(os.Stderr, "  "+msg)
	}
}

func (m *memoryRun) Stop(context.Context, gan.Ask, int) (bool, error) { return false, nil }
func (m *memoryRun) Done(context.Context, int) error                  { return nil }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
