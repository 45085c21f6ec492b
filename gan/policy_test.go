package gan

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

func TestGuard(t *testing.T) {
	h := func(level string) spec.HealthReport { return spec.HealthReport{Level: level, Reason: "why"} }
	type check struct {
		step  int
		level string
		want  string // "", "judged", "collapse", "rollback N", "give up"
	}
	p := spec.Policy{Mode: spec.PolicyRepair, WarmUp: 100, Confirm: 2, MaxTries: 2}
	cases := []struct {
		name   string
		p      spec.Policy
		checks []check
	}{
		{"warm-up is not judged", p, []check{{50, spec.Collapsed, ""}, {100, spec.Healthy, "judged"}}},
		{"one collapsed check is not enough", p, []check{{100, spec.Healthy, "judged"}, {150, spec.Collapsed, "judged"}, {200, spec.Healthy, "judged"}, {250, spec.Collapsed, "judged"}}},
		{"warnings neither count nor break a streak", p, []check{{100, spec.Healthy, "judged"}, {150, spec.Collapsed, "judged"}, {200, spec.Warning, "judged"}, {250, spec.Collapsed, "rollback 100"}}},
		{"tries run out", p, []check{
			{100, spec.Healthy, "judged"}, {150, spec.Healthy, "judged"}, {200, spec.Collapsed, "judged"}, {250, spec.Collapsed, "rollback 150"},
			{200, spec.Collapsed, "judged"}, {250, spec.Collapsed, "rollback 150"},
			{200, spec.Collapsed, "judged"}, {250, spec.Collapsed, "give up"}, {300, spec.Collapsed, "judged"}, {350, spec.Collapsed, "collapse"}}},
		{"never healthy goes back to the start", p, []check{{100, spec.Collapsed, "judged"}, {150, spec.Collapsed, "rollback 0"}}},
		{"warn only", spec.Policy{Mode: spec.PolicyWarn, Confirm: 1}, []check{{10, spec.Collapsed, "collapse"}}},
		{"off", spec.Policy{Mode: spec.PolicyOff, Confirm: 1}, []check{{10, spec.Collapsed, ""}}},
	}
	for _, c := range cases {
		g := spec.NewGuard(c.p)
		for i, ch := range c.checks {
			d := g.Observe(ch.step, h(ch.level))
			got := ""
			switch {
			case d.Rollback:
				got = "rollback " + itoa(d.ToStep)
			case d.GiveUp:
				got = "give up"
			case d.Collapse:
				got = "collapse"
			case d.Judged:
				got = "judged"
			}
			if got != ch.want {
				t.Errorf("%s: check %d (step %d, %s): %q, want %q", c.name, i, ch.step, ch.level, got, ch.want)
			}
			if (d.Rollback || d.GiveUp || (d.Collapse && c.p.Mode == spec.PolicyWarn)) && !strings.Contains(d.Message, "why") {
				t.Errorf("%s: message %q lacks the reason", c.name, d.Message)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPolicyValidate(t *testing.T) {
	if err := spec.DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []spec.Policy{{Mode: "fix", Confirm: 1}, {Mode: spec.PolicyWarn, Confirm: 0}, {Mode: spec.PolicyWarn, Confirm: 1, WarmUp: -1}, {Mode: spec.PolicyRepair, Confirm: 1, MaxTries: 11}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// Remedies bring wild learning rates back to the reference, then slow the
// networks; a try applied twice gives the same rates; and they travel with
// the checkpoint.
func TestRemedyIsCheckpointed(t *testing.T) {
	src := noiseSource{res: 32}
	wild, _ := spec.Preset("tiny")
	wild.LRG, wild.LRD = 0.002, 1e-6
	w, err := NewTrainer(wild, src)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if msg := w.ApplyRemedy(1, wild); !strings.Contains(msg, "reference") || w.Config().LRG != spec.DefaultConfig().LRG || w.Config().LRD != spec.DefaultConfig().LRD {
		t.Errorf("wild rates: %q, now G %g D %g", msg, w.Config().LRG, w.Config().LRD)
	}
	cfg, _ := spec.Preset("tiny")
	tr, err := NewTrainer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	lrs := []float64{}
	for try := 1; try <= 3; try++ {
		if msg := tr.ApplyRemedy(try, cfg); !strings.Contains(msg, "learning rate") {
			t.Errorf("try %d: %q", try, msg)
		}
		g := tr.Config().LRG
		if tr.ApplyRemedy(try, cfg); tr.Config().LRG != g {
			t.Errorf("try %d applied twice: %g, then %g", try, g, tr.Config().LRG)
		}
		lrs = append(lrs, g)
	}
	if !(lrs[0] < cfg.LRG && lrs[1] < lrs[0] && lrs[2] < lrs[1]) || tr.Config().LRD >= cfg.LRD {
		t.Errorf("generator rates %v from %g, discriminator %g from %g", lrs, cfg.LRG, tr.Config().LRD, cfg.LRD)
	}
	var buf bytes.Buffer
	if err := tr.WriteCheckpoint(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCheckpoint(&buf, src)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.optG.LR != tr.optG.LR || back.optD.LR != tr.optD.LR || back.Config().LRG != tr.Config().LRG {
		t.Errorf("after a checkpoint: G %g D %g, want %g %g", back.optG.LR, back.optD.LR, tr.optG.LR, tr.optD.LR)
	}
}
