package gan

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	h := func(level string) HealthReport { return HealthReport{Level: level, Reason: "why"} }
	type check struct {
		step  int
		level string
		want  string // "", "judged", "collapse", "rollback N", "give up"
	}
	p := Policy{Mode: PolicyRepair, WarmUp: 100, Confirm: 2, MaxTries: 2}
	cases := []struct {
		name   string
		p      Policy
		checks []check
	}{
		{"warm-up is not judged", p, []check{{50, Collapsed, ""}, {100, Healthy, "judged"}}},
		{"one collapsed check is not enough", p, []check{{100, Healthy, "judged"}, {150, Collapsed, "judged"}, {200, Healthy, "judged"}, {250, Collapsed, "judged"}}},
		{"warnings neither count nor break a streak", p, []check{{100, Healthy, "judged"}, {150, Collapsed, "judged"}, {200, Warning, "judged"}, {250, Collapsed, "rollback 100"}}},
		{"tries run out", p, []check{
			{100, Healthy, "judged"}, {150, Healthy, "judged"}, {200, Collapsed, "judged"}, {250, Collapsed, "rollback 150"},
			{200, Collapsed, "judged"}, {250, Collapsed, "rollback 150"},
			{200, Collapsed, "judged"}, {250, Collapsed, "give up"}, {300, Collapsed, "judged"}, {350, Collapsed, "collapse"}}},
		{"never healthy goes back to the start", p, []check{{100, Collapsed, "judged"}, {150, Collapsed, "rollback 0"}}},
		{"warn only", Policy{Mode: PolicyWarn, Confirm: 1}, []check{{10, Collapsed, "collapse"}}},
		{"off", Policy{Mode: PolicyOff, Confirm: 1}, []check{{10, Collapsed, ""}}},
	}
	for _, c := range cases {
		g := NewGuard(c.p)
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
			if (d.Rollback || d.GiveUp || (d.Collapse && c.p.Mode == PolicyWarn)) && !strings.Contains(d.Message, "why") {
				t.Errorf("%s: message %q lacks the reason", c.name, d.Message)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Policy{{Mode: "fix", Confirm: 1}, {Mode: PolicyWarn, Confirm: 0}, {Mode: PolicyWarn, Confirm: 1, WarmUp: -1}, {Mode: PolicyRepair, Confirm: 1, MaxTries: 11}} {
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
	wild, _ := Preset("tiny")
	wild.LRG, wild.LRD = 0.002, 1e-6
	w, err := NewTrainer(wild, src)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if msg := w.Remedy(1, wild); !strings.Contains(msg, "reference") || w.Config().LRG != DefaultConfig().LRG || w.Config().LRD != DefaultConfig().LRD {
		t.Errorf("wild rates: %q, now G %g D %g", msg, w.Config().LRG, w.Config().LRD)
	}
	cfg, _ := Preset("tiny")
	tr, err := NewTrainer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	lrs := []float64{}
	for try := 1; try <= 3; try++ {
		if msg := tr.Remedy(try, cfg); !strings.Contains(msg, "learning rate") {
			t.Errorf("try %d: %q", try, msg)
		}
		g := tr.Config().LRG
		if tr.Remedy(try, cfg); tr.Config().LRG != g {
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
