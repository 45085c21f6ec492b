package web

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// augRun is a run with augmentation a and n steps whose r_t climbs from
// 0.2 toward 1 while the strength rises after it.
func augRun(a spec.Augment, n int, firstRT float64) RunView {
	cfg := spec.Studio(32)
	cfg.Augment = a
	v := RunView{Run: &store.Run{ID: 3, Steps: n, Config: store.RunConfig{Config: cfg}}}
	for i := 1; i <= n; i++ {
		st := spec.Stats{Step: i, LossD: 1, LossG: 1, DReal: 0.7, DFake: 0.3}
		if i >= spec.AugInterval {
			st.RT = firstRT + (1-firstRT)*float64(i-spec.AugInterval)/float64(n-spec.AugInterval)
			st.AugP = 0.5 * float64(i) / float64(n)
		}
		v.Metrics = append(v.Metrics, st)
	}
	return v
}

// chartTitled finds the chart whose title starts with prefix.
func chartTitled(cs []Chart, prefix string) (Chart, bool) {
	for _, c := range cs {
		if strings.HasPrefix(c.Title, prefix) {
			return c, true
		}
	}
	return Chart{}, false
}

// points reads a series' SVG points.
func points(t *testing.T, s Series) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, p := range strings.Fields(s.Points) {
		var x, y float64
		if _, err := fmtSscanf(p, &x, &y); err != nil {
			t.Fatalf("point %q: %v", p, err)
		}
		out = append(out, [2]float64{x, y})
	}
	return out
}

// TestAugmentChart: runs with augmentation chart r_t and the strength on
// one 0–1 scale, auto with its target as a flat line where r_t is measured;
// runs without have no such chart.
func TestAugmentChart(t *testing.T) {
	cases := []struct {
		name    string
		aug     spec.Augment
		firstRT float64
		chart   bool
		series  []string // names, in order
		yMin    string
	}{
		{"auto", spec.AutoAugment(), 0.2, true, []string{"r_t", "strength", "target"}, "0.00"},
		{"fixed", spec.Augment{Mode: spec.AugFixed, P: 0.3}, 0.2, true, []string{"r_t", "strength"}, "0.00"},
		{"off", spec.Augment{Mode: spec.AugOff}, 0.2, false, nil, ""},
		{"before augmentation", spec.Augment{}, 0.2, false, nil, ""},
		// D unsure of the reals: the scale reaches below 0 to show it.
		{"negative r_t", spec.AutoAugment(), -0.5, true, []string{"r_t", "strength", "target"}, "-0.50"},
	}
	for _, c := range cases {
		v := augRun(c.aug, 200, c.firstRT)
		ch, ok := chartTitled(v.Charts(), "Augmentation")
		if ok != c.chart {
			t.Errorf("%s: augmentation chart shown: %v, want %v", c.name, ok, c.chart)
			continue
		}
		if !ok {
			continue
		}
		var names []string
		for _, s := range ch.Series {
			names = append(names, s.Name)
		}
		if strings.Join(names, ",") != strings.Join(c.series, ",") {
			t.Errorf("%s: series %v, want %v", c.name, names, c.series)
			continue
		}
		if ch.YMin != c.yMin || ch.YMax != "1.00" || ch.XMax != "200" {
			t.Errorf("%s: axes %s–%s to step %s, want %s–1.00 to 200", c.name, ch.YMin, ch.YMax, ch.XMax, c.yMin)
		}
		if ch.Series[0].Last != "1.00" || ch.Series[1].Last != "0.50" {
			t.Errorf("%s: last r_t %s, strength %s; want 1.00 and 0.50", c.name, ch.Series[0].Last, ch.Series[1].Last)
		}
		// r_t starts where it is first measured, not at the engine's 0
		// before the first interval.
		rt := points(t, ch.Series[0])
		if x0 := rt[0][0]; x0 < float64(spec.AugInterval-1)/200*chartW {
			t.Errorf("%s: r_t starts at x %g, before step %d", c.name, x0, spec.AugInterval)
		}
		// r_t rises: its last point is higher (smaller y) than its first.
		if rt[len(rt)-1][1] >= rt[0][1] {
			t.Errorf("%s: r_t drawn from y %g to %g, want it rising", c.name, rt[0][1], rt[len(rt)-1][1])
		}
		if len(ch.Series) > 2 {
			lo := -0.5
			if c.firstRT >= 0 {
				lo = 0
			}
			want := chartH - (0.6-lo)/(1-lo)*chartH
			for _, p := range points(t, ch.Series[2]) {
				if d := p[1] - want; d > 0.06 || d < -0.06 {
					t.Fatalf("%s: target drawn at y %g, want %g (0.6)", c.name, p[1], want)
				}
			}
			if ch.Series[2].Last != "0.60" || ch.Series[2].Class != "floor" {
				t.Errorf("%s: target %q drawn as %q, want 0.60 dashed", c.name, ch.Series[2].Last, ch.Series[2].Class)
			}
		}
	}
	// The chart sits next to D's outputs.
	cs := augRun(spec.AutoAugment(), 10, 0.2).Charts()
	for i, c := range cs {
		if strings.HasPrefix(c.Title, "Augmentation") && (i == 0 || cs[i-1].Title != "Discriminator outputs") {
			t.Errorf("the augmentation chart follows %q, want Discriminator outputs", cs[i-1].Title)
		}
	}
}

// TestAugmentSettingsShown: the run page's settings say what augmentation,
// average and mirroring the run trains with.
func TestAugmentSettingsShown(t *testing.T) {
	cases := []struct {
		cfg  func(*spec.Config)
		want [][2]string
	}{
		{func(*spec.Config) {}, [][2]string{{"Augmentation", "auto (ADA: the strength follows r_t toward 0.6)"},
			{"Generator average", "half-life 10\u00a0000 images"}, {"Mirrored images", "on"}}},
		{func(c *spec.Config) {
			c.Augment = spec.Augment{Mode: spec.AugFixed, P: 0.25}
			c.EMA = 0
			c.Mirror = false
		},
			[][2]string{{"Augmentation", "fixed at strength 0.25"}, {"Generator average", "off (images from the live weights)"}, {"Mirrored images", "off"}}},
		{func(c *spec.Config) { *c = spec.DefaultConfig() }, [][2]string{{"Augmentation", "off"}}},
	}
	for _, c := range cases {
		cfg := spec.Studio(32)
		c.cfg(&cfg)
		r := &store.Run{ID: 1, State: store.Done, Steps: 10, Config: store.RunConfig{Config: cfg}}
		facts := map[string]string{}
		for _, kv := range PrettyConfig(r) {
			facts[kv[0]] = kv[1]
		}
		for _, w := range c.want {
			if facts[w[0]] != w[1] {
				t.Errorf("%+v: %s is %q, want %q", cfg.Augment, w[0], facts[w[0]], w[1])
			}
		}
		var b bytes.Buffer
		if err := RunPage(Page{}, RunView{Run: r, Dataset: &store.Dataset{Name: "d"}}).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		if want := "<dt>Augmentation</dt><dd>" + c.want[0][1] + "</dd>"; !strings.Contains(b.String(), want) {
			t.Errorf("the run page lacks %s", want)
		}
	}
}

// TestNewRunAugmentField: the form shows the augmentation choice as sent,
// a fixed strength with its box, and the field's message.
func TestNewRunAugmentField(t *testing.T) {
	sets := []*store.Dataset{{ID: 1, Name: "emoji", Count: 110}}
	cases := []struct {
		name string
		form RunForm
		errs map[string]string
		want []string
	}{
		{"default", DefaultRunForm(1), nil, []string{`<select name="augment_mode" id="augment">`, `<option value="auto" selected>`,
			`name="augment_p" id="augment_p" value=""`}},
		{"off", RunForm{"augment": "off"}, nil, []string{`<option value="off" selected>`}},
		{"fixed, from the API", RunForm{"augment": "0.3"}, nil, []string{`<option value="fixed" selected>`, `id="augment_p" value="0.3"`}},
		{"fixed, refused", RunForm{"augment_mode": "fixed", "augment_p": "1.5", "augment": "1.5"}, map[string]string{"augment": "auto, off, or a fixed strength from 0 to 1"},
			[]string{`<option value="fixed" selected>`, `id="augment_p" value="1.5"`, `id="augment-error">auto, off, or a fixed strength from 0 to 1</p>`}},
		{"fixed, empty", RunForm{"augment_mode": "fixed", "augment_p": "", "augment": ""}, map[string]string{"augment": "give the fixed strength"},
			[]string{`<option value="fixed" selected>`, `id="augment_p" value=""`, `id="augment-error">give the fixed strength</p>`}},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := NewRunPage(Page{Title: "New run"}, sets, c.form, c.errs, nil, RunPlan{}).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: the form lacks %s", c.name, w)
			}
		}
		sel := b.String()[strings.Index(b.String(), `name="augment_mode"`):]
		if n := strings.Count(sel[:strings.Index(sel, "</select>")], " selected>"); n != 1 {
			t.Errorf("%s: %d augmentation choices selected, want 1", c.name, n)
		}
	}
}
