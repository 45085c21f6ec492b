package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganstudio/ganstudio/gan/stacked"
)

// bench stacked end to end, short: a quick classifier is put in the cache
// (the benchmark's own trains once, for a minute; gan/stacked's tests
// check it), then a plain DCGAN and one with mistyped rates train 60 steps.
// The mistyped run collapses onto a few triples; every check carries its
// ground truth and the tallies count each judged check once.
func TestBenchStacked(t *testing.T) {
	rep, clf := benchStacked(t, "--arms", "dcgan,mistyped", "--seeds", "1", "--steps", "60",
		"--every", "20", "--warmup", "20", "--samples", "600", "--truth", "64", "--parallel", "2")
	if len(rep.Results) != 2 || rep.Classifier != clf.Accuracy || len(rep.Published) != len(publishedStacked) || rep.Device != "cpu" {
		t.Fatalf("report %+v", rep)
	}
	final := map[string]stacked.Modes{}
	for _, ar := range rep.Results {
		r := ar.Runs[0]
		final[ar.Arm.Name] = r.Final
		if r.Final.Samples != 600 || r.Trained < 60 || len(r.Checks) != 3 {
			t.Errorf("%s: %+v", ar.Arm.Name, r)
		}
		judged := 0
		for _, c := range r.Checks {
			if c.Judged {
				judged++
			}
			if c.Modes < 1 || c.Modes > 64 || c.Losing != (c.Step >= 20 && (float64(c.Modes) < 0.9*float64(c.Peak) || float64(c.Modes) < 0.25*float64(rep.RealModes))) {
				t.Errorf("%s step %d: %+v", ar.Arm.Name, c.Step, c)
			}
		}
		for _, d := range []detectorTally{ar.Before, ar.After} {
			if d.Hits+d.Misses+d.FalseAlarms+d.CorrectSilent != judged {
				t.Errorf("%s: tally %+v for %d judged checks", ar.Arm.Name, d, judged)
			}
		}
	}
	if d, c := final["dcgan"], final["mistyped"]; !(d.Modes > 3*c.Modes) || !(c.KL > d.KL) {
		t.Errorf("DCGAN %+v against mistyped rates %+v: want 3× the modes and a lower KL", d, c)
	}
}

// benchStacked runs bench stacked with args after putting a quick
// classifier in a fresh data folder's cache, and reads its report.
func benchStacked(t *testing.T, args ...string) (stackedReport, *stacked.Classifier) {
	t.Helper()
	m, err := stacked.LoadMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	clf, err := stacked.TrainClassifier(m, stacked.TrainOptions{Epochs: 1, Use: 6400, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if err := stacked.SaveClassifier(filepath.Join(data, "cache"), clf); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stacked.json")
	if err := run(context.Background(), append([]string{"bench", "stacked", "--data", data, "--json-out", out}, args...)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep stackedReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, clf
}
