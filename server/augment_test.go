package server

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// TestNewRunFormAugment: the form's augmentation choice and fixed strength
// start the run they say; a bad strength is shown back beside the field
// with everything else as typed.
func TestNewRunFormAugment(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	client := &http.Client{Jar: &cookieJar{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.srv.URL + "/runs/new")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<option value="auto" selected>`) {
		t.Error("the new-run form does not start at auto augmentation")
	}
	tok := between(string(page), `name="_csrf" value="`, `"`)
	cases := []struct {
		mode, p string
		code    int
		want    spec.Augment // of the run started (303)
		shown   []string     // in the form shown again (422)
	}{
		{"auto", "", http.StatusSeeOther, spec.AutoAugment(), nil},
		{"auto", "0.7", http.StatusSeeOther, spec.AutoAugment(), nil}, // the box matters only for fixed
		{"off", "", http.StatusSeeOther, spec.Augment{Mode: spec.AugOff}, nil},
		{"fixed", "0.25", http.StatusSeeOther, spec.Augment{Mode: spec.AugFixed, P: 0.25}, nil},
		{"fixed", "1.5", 422, spec.Augment{}, []string{`id="augment-error">auto, off, or a fixed strength from 0 to 1<`, `id="augment_p" value="1.5"`, `<option value="fixed" selected>`}},
		{"fixed", "", 422, spec.Augment{}, []string{`id="augment-error">give the fixed strength`, `<option value="fixed" selected>`}},
		{"fixed", "lots", 422, spec.Augment{}, []string{`id="augment-error">`, `id="augment_p" value="lots"`}},
		{"sometimes", "", 422, spec.Augment{}, []string{`id="augment-error">`}},
	}
	for _, c := range cases {
		form := url.Values{"_csrf": {tok}}
		for k, v := range defaultRunForm(1) {
			form.Set(k, v)
		}
		form.Del("augment")
		form.Set("steps", "7")
		form.Set("augment_mode", c.mode)
		form.Set("augment_p", c.p)
		resp, err := client.PostForm(s.srv.URL+"/runs", form)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %q: %d, want %d", c.mode, c.p, resp.StatusCode, c.code)
			continue
		}
		if c.code == 422 {
			for _, w := range append(c.shown, `id="steps" value="7"`) {
				if !strings.Contains(string(page), w) {
					t.Errorf("%s %q: the form shown again lacks %s", c.mode, c.p, w)
				}
			}
			continue
		}
		var id int64
		fmt.Sscanf(resp.Header.Get("Location"), "/runs/%d", &id)
		r, err := s.st.Run(context.Background(), id)
		if err != nil {
			t.Fatalf("%s %q: the run at %q: %v", c.mode, c.p, resp.Header.Get("Location"), err)
		}
		// The studio's engine: the average and mirroring come with it.
		if r.Config.Augment != c.want || r.Config.EMA != 10_000 || !r.Config.Mirror {
			t.Errorf("%s %q: run with augment %+v, EMA %g, mirror %v; want %+v, 10000, on", c.mode, c.p, r.Config.Augment, r.Config.EMA, r.Config.Mirror, c.want)
		}
	}
}

// TestAugmentCharted: a run's recorded strength and r_t reach the run
// page's chart panel, the API's latest metrics and the CSV; a run without
// augmentation has no such chart.
func TestAugmentCharted(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	ctx := context.Background()
	var auto, off jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 40}`), &auto)
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 40, "augment": "off"}`), &off)
	for _, run := range []jsonRun{auto, off} {
		r, err := s.st.Run(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.st.Claim(ctx, r.ID, r.JobID, "w1", spec.CPU); !ok || err != nil {
			t.Fatalf("claim run %d: %v %v", r.ID, ok, err)
		}
		var stats []spec.Stats
		for i := 1; i <= 40; i++ {
			st := spec.Stats{Step: i, LossD: 1.2, LossG: 0.8, DReal: 0.6, DFake: 0.4}
			if run.ID == auto.ID && i >= spec.AugInterval {
				st.RT, st.AugP = 0.5+0.01*float64(i), 0.001*float64(i)
			}
			stats = append(stats, st)
		}
		if _, err := s.st.Progress(ctx, r.ID, "w1", stats, 1); err != nil {
			t.Fatal(err)
		}
	}

	panel := s.get(fmt.Sprintf("/runs/%d/panel/charts", auto.ID))
	for _, w := range []string{`<strong>Augmentation (ADA)`, `<span class="legend s1">r_t 0.90</span>`, `<span class="legend s3">strength 0.04</span>`,
		`<span class="legend floor">target 0.60</span>`, `class="line floor"`} {
		if !strings.Contains(panel, w) {
			t.Errorf("the chart panel lacks %s", w)
		}
	}
	if panel := s.get(fmt.Sprintf("/runs/%d/panel/charts", off.ID)); strings.Contains(panel, "Augmentation") {
		t.Error("a run without augmentation charts it")
	}
	if page := s.get(fmt.Sprintf("/runs/%d", auto.ID)); !strings.Contains(page, "<dt>Augmentation</dt><dd>auto (ADA") {
		t.Error("the run page's settings do not say the augmentation")
	}

	var got jsonRun
	s.do("GET", fmt.Sprintf("/api/runs/%d", auto.ID), "", nil, &got)
	if got.Metrics == nil || got.Metrics.AugP != 0.04 || got.Metrics.RT != 0.9 || got.Config.Augment != "auto" {
		t.Errorf("the API's run: metrics %+v, augment %q; want aug_p 0.04, r_t 0.9, auto", got.Metrics, got.Config.Augment)
	}

	rows, err := csv.NewReader(strings.NewReader(s.get(fmt.Sprintf("/runs/%d/metrics.csv", auto.ID)))).ReadAll()
	if err != nil || len(rows) != 41 {
		t.Fatalf("metrics.csv: %d rows, %v", len(rows), err)
	}
	if h := strings.Join(rows[0], ","); h != "step,loss_d,loss_g,d_real,d_fake,swd,aug_p,r_t" {
		t.Errorf("metrics.csv header %s", h)
	}
	if last := rows[40]; last[6] != "0.04" || last[7] != "0.9" {
		t.Errorf("metrics.csv step 40: aug_p %s, r_t %s; want 0.04 and 0.9", last[6], last[7])
	}
}
