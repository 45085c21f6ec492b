package server

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// goType finds Go's names for types in a message meant for people.
var goType = regexp.MustCompile(`\bu?int(8|16|32|64)?\b|\bfloat(32|64)\b|\bserver\.|\*`)

// TestRunAPIFields sends every field of POST /api/runs absent, zero,
// negative and of the wrong type. A field that is present is validated as
// sent: an explicit 0 is never read as "use the default".
func TestRunAPIFields(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	type want struct {
		code int
		// check looks at the created run (201) or the refused field (422).
		check func(jsonRun) string
	}
	ok := func(check func(jsonRun) string) want { return want{201, check} }
	refused := want{code: 422}
	defaults := func(r jsonRun) string {
		if r.Steps != 500 || r.Config.Batch != 64 || r.Config.Res != 32 || r.Config.Width != 1 || r.Config.LRG != 0.0002 ||
			r.Config.LRD != 0.0002 || r.Config.SnapshotEvery != 50 || r.Config.FeedbackWeight != 0.5 ||
			r.Config.CollapsePolicy != "repair" || r.Device != "cpu" ||
			r.Config.Augment != "auto" || r.Config.EMA != 10_000 || !r.Config.Mirror || r.Config.StopWhenStale {
			return fmt.Sprintf("not the form's defaults: %d steps, %+v on %s", r.Steps, r.Config, r.Device)
		}
		return ""
	}
	cases := []struct {
		field   string
		absent  want
		zero    want
		neg     want
		wrong   string // a value of the wrong JSON type
		wrongOK bool   // the wrong-type value is refused with 422 (else 400)
	}{
		{field: "dataset_id", absent: refused, zero: refused, neg: refused, wrong: `"1"`},
		{field: "res", absent: ok(defaults), zero: refused, neg: refused, wrong: `"32"`},
		{field: "width", absent: ok(defaults), zero: refused, neg: refused, wrong: `"wide"`},
		{field: "steps", absent: ok(defaults), zero: refused, neg: refused, wrong: `12.5`},
		{field: "batch", absent: ok(defaults), zero: refused, neg: refused, wrong: `[64]`},
		{field: "lr_g", absent: ok(defaults), zero: refused, neg: refused, wrong: `"2e-4"`},
		{field: "lr_d", absent: ok(defaults), zero: refused, neg: refused, wrong: `true`},
		{field: "seed", absent: ok(nil), zero: ok(func(r jsonRun) string {
			if r.Config.Seed != 0 {
				return fmt.Sprintf("seed %d, want the 0 that was sent", r.Config.Seed)
			}
			return ""
		}), neg: refused, wrong: `"7"`},
		{field: "feedback_weight", absent: ok(defaults), zero: ok(func(r jsonRun) string {
			if r.Config.FeedbackWeight != 0 {
				return fmt.Sprintf("feedback weight %g, want the 0 that was sent", r.Config.FeedbackWeight)
			}
			return ""
		}), neg: refused, wrong: `"off"`},
		{field: "snapshot_every", absent: ok(defaults), zero: refused, neg: refused, wrong: `{}`},
		{field: "collapse_policy", absent: ok(defaults), zero: refused, neg: refused, wrong: `1`},
		{field: "device", absent: ok(defaults), zero: refused, neg: refused, wrong: `0`},
		// A strength is sent as text ("0.3"), like the form's field.
		{field: "augment", absent: ok(defaults), zero: refused, neg: refused, wrong: `0.3`},
		// Left out, no goal: the default 500 steps.
		{field: "goal", absent: ok(defaults), zero: refused, neg: refused, wrong: `2`},
		// A flag: false is what leaving it out means; a number is no flag.
		{field: "stop_when_stale", absent: ok(defaults), zero: ok(func(r jsonRun) string {
			if r.Config.StopWhenStale {
				return "stop_when_stale on, want the false that was sent"
			}
			return ""
		}), neg: refused, wrong: `"yes"`},
	}
	for _, c := range cases {
		// The other fields hold valid values that differ from the defaults
		// only where the check does not look.
		body := func(v string) string {
			parts := []string{}
			if c.field != "dataset_id" {
				parts = append(parts, `"dataset_id": 1`)
			}
			if v != "" {
				parts = append(parts, fmt.Sprintf("%q: %s", c.field, v))
			}
			return "{" + strings.Join(parts, ", ") + "}"
		}
		zero, neg := "0", "-1"
		switch c.field {
		case "collapse_policy", "device", "augment", "goal":
			zero, neg = `""`, `"-1"`
		case "stop_when_stale":
			zero, neg = `false`, `-1`
		}
		for _, tc := range []struct {
			name string
			body string
			want want
		}{
			{"absent", body(""), c.absent},
			{"zero", body(zero), c.zero},
			{"negative", body(neg), c.neg},
			{"wrong type", body(c.wrong), refused},
		} {
			var raw json.RawMessage
			code := s.do("POST", "/api/runs", "application/json", strings.NewReader(tc.body), &raw)
			if code != tc.want.code {
				t.Errorf("%s %s %s: status %d (%s), want %d", c.field, tc.name, tc.body, code, raw, tc.want.code)
				continue
			}
			switch code {
			case 201:
				var r jsonRun
				json.Unmarshal(raw, &r)
				if tc.want.check != nil {
					if msg := tc.want.check(r); msg != "" {
						t.Errorf("%s %s %s: %s", c.field, tc.name, tc.body, msg)
					}
				}
			case 422:
				var a apiError
				json.Unmarshal(raw, &a)
				msg := a.Fields[c.field]
				if msg == "" {
					t.Errorf("%s %s %s: no message for the field in %s", c.field, tc.name, tc.body, raw)
				}
				if goType.MatchString(msg) {
					t.Errorf("%s %s: the message %q names Go types", c.field, tc.name, msg)
				}
			}
		}
	}
	// A short run with no snapshot interval still gets about ten snapshots.
	var r jsonRun
	if code := s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 40}`), &r); code != 201 || r.Config.SnapshotEvery != 4 {
		t.Errorf("40 steps: %d, snapshot every %d, want 201 and 4", code, r.Config.SnapshotEvery)
	}
}

// TestRunAPIAugment: the augment field's values, as the created run
// answers them, as stored and as GET shows them.
func TestRunAPIAugment(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	cases := []struct {
		value string // the JSON sent; "" leaves the field out
		code  int
		want  spec.Augment // of the stored run (201)
		shown string       // config.augment in the answer (201)
	}{
		{"", 201, spec.AutoAugment(), "auto"},
		{`"auto"`, 201, spec.AutoAugment(), "auto"},
		{`"off"`, 201, spec.Augment{Mode: spec.AugOff}, "off"},
		{`"0.3"`, 201, spec.Augment{Mode: spec.AugFixed, P: 0.3}, "0.3"},
		{`" 0.3 "`, 201, spec.Augment{Mode: spec.AugFixed, P: 0.3}, "0.3"},
		{`"0"`, 201, spec.Augment{Mode: spec.AugFixed, P: 0}, "0"},
		{`"1"`, 201, spec.Augment{Mode: spec.AugFixed, P: 1}, "1"},
		{`"2"`, 422, spec.Augment{}, ""},
		{`"-0.1"`, 422, spec.Augment{}, ""},
		{`"NaN"`, 422, spec.Augment{}, ""},
		{`"Auto"`, 422, spec.Augment{}, ""},
		{`""`, 422, spec.Augment{}, ""},
		{`"  "`, 422, spec.Augment{}, ""},
		{`0.3`, 422, spec.Augment{}, ""},
		{`true`, 422, spec.Augment{}, ""},
		{`null`, 201, spec.AutoAugment(), "auto"}, // null is left out
	}
	for _, c := range cases {
		body, code, raw, a := postRunWith(s, "augment", c.value)
		if code != c.code {
			t.Errorf("%s: status %d (%s), want %d", body, code, raw, c.code)
			continue
		}
		if code == 422 {
			if msg := a.Fields["augment"]; msg == "" || goType.MatchString(msg) || !strings.Contains(a.Error, "augment: ") {
				t.Errorf("%s: %s, want the field named with a message a person reads", body, raw)
			}
			continue
		}
		var r jsonRun
		json.Unmarshal(raw, &r)
		if r.Config.Augment != c.shown {
			t.Errorf("%s: answered augment %q, want %q", body, r.Config.Augment, c.shown)
		}
		stored, err := s.st.Run(context.Background(), r.ID)
		if err != nil || stored.Config.Augment != c.want {
			t.Errorf("%s: stored augment %+v (%v), want %+v", body, stored.Config.Augment, err, c.want)
		}
		var got jsonRun
		if s.do("GET", fmt.Sprintf("/api/runs/%d", r.ID), "", nil, &got); got.Config.Augment != c.shown || got.Config.EMA != 10_000 || !got.Config.Mirror {
			t.Errorf("%s: GET shows augment %q, EMA %g, mirror %v; want %q, 10000, on", body, got.Config.Augment, got.Config.EMA, got.Config.Mirror, c.shown)
		}
	}
}

// TestAPIBodies sends bodies that are not one JSON object of fields to
// every JSON endpoint.
func TestAPIBodies(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	var run jsonRun
	if code := s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 5}`), &run); code != 201 {
		t.Fatalf("create a run: %d", code)
	}
	paths := []string{"/api/runs", fmt.Sprintf("/api/runs/%d/generate", run.ID), fmt.Sprintf("/api/runs/%d/session", run.ID),
		fmt.Sprintf("/api/runs/%d/rollback", run.ID), "/api/samples/1/rating"}
	for _, p := range paths {
		for _, c := range []struct {
			body string
			code int
			says string
		}{
			{`[{"dataset_id": 1}]`, 400, "one JSON object"},
			{`"steps"`, 400, "one JSON object"},
			{`{} {}`, 400, "more than one"},
			{`{}]`, 400, "more than one"},
			{`{"n": 1,`, 400, "not valid JSON"},
			{`{"n": 1, "colour": "red"}`, 422, "unknown field"},
			{`{"x": "` + strings.Repeat("a", maxJSON) + `"}`, 413, "larger than"},
		} {
			var a apiError
			code := s.do("POST", p, "application/json", strings.NewReader(c.body), &a)
			msg := a.Error + fmt.Sprint(a.Fields)
			if code != c.code || !strings.Contains(msg, c.says) || goType.MatchString(msg) {
				t.Errorf("POST %s %.40s: %d %q, want %d saying %q", p, c.body, code, msg, c.code, c.says)
			}
		}
	}
}

// TestActionAPIFields: generate's n and step, a session's n, rollback's step and a
// rating's value, absent, zero, negative and of the wrong type.
func TestActionAPIFields(t *testing.T) {
	s := newStudio(t, true, DefaultOptions())
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 4, "snapshot_every": 2, "width": 0.25, "batch": 4, "res": 32}`), &run)
	path := fmt.Sprintf("/api/runs/%d", run.ID)
	s.waitRun(&run, "the run to finish", func(r *jsonRun) bool { return r.State == store.Done })
	cases := []struct {
		path, body string
		code       int
		field      string // the field a 422 names
		samples    int    // how many samples a 201 makes
	}{
		{"/generate", ``, 201, "", 16},
		{"/generate", `{}`, 201, "", 16},
		{"/generate", `{"n": 3}`, 201, "", 3},
		{"/generate", `{"n": 0}`, 422, "n", 0},
		{"/generate", `{"n": -2}`, 422, "n", 0},
		{"/generate", `{"n": "3"}`, 422, "n", 0},
		{"/generate", `{"n": 2.5}`, 422, "n", 0},
		{"/generate", `{"n": 1, "step": 0}`, 201, "", 1},
		{"/generate", `{"n": 1, "step": -1}`, 422, "step", 0},
		{"/generate", `{"n": 1, "step": "last"}`, 422, "step", 0},
		{"/generate", `{"n": 1, "bias": 1}`, 422, "bias", 0},
		{"/session", ``, 201, "", 16},
		{"/session", `{"n": 5}`, 201, "", 5},
		{"/session", `{"n": 0}`, 422, "n", 0},
		{"/session", `{"n": 49}`, 422, "n", 0},
		{"/session", `{"n": "5"}`, 422, "n", 0},
		{"/rollback", `{}`, 422, "step", 0},
		{"/rollback", `{"step": -4}`, 422, "step", 0},
		{"/rollback", `{"step": "0"}`, 422, "step", 0},
	}
	for _, c := range cases {
		var raw json.RawMessage
		code := s.do("POST", path+c.path, "application/json", strings.NewReader(c.body), &raw)
		if code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.path, c.body, code, raw, c.code)
			continue
		}
		if code == 422 {
			var a apiError
			json.Unmarshal(raw, &a)
			if a.Fields[c.field] == "" || goType.MatchString(a.Fields[c.field]) {
				t.Errorf("%s %s: %s, want a message a person reads for %q", c.path, c.body, raw, c.field)
			}
		}
		if code == 201 {
			var got struct{ Samples []jsonSample }
			json.Unmarshal(raw, &got)
			if len(got.Samples) != c.samples {
				t.Errorf("%s %s: %d samples, want %d", c.path, c.body, len(got.Samples), c.samples)
			}
		}
	}
	var list struct{ Samples []jsonSample }
	s.do("GET", path+"/samples", "", nil, &list)
	if len(list.Samples) == 0 {
		t.Fatal("no samples to rate")
	}
	rate := fmt.Sprintf("/api/samples/%d/rating", list.Samples[0].ID)
	for _, c := range []struct {
		body   string
		code   int
		rating int
	}{
		{`{}`, 422, 0},
		{`{"value": 1}`, 200, 1},
		{`{"value": 0}`, 200, 0},
		{`{"value": -1}`, 200, -1},
		{`{"value": -2}`, 422, 0},
		{`{"value": "like"}`, 422, 0},
		{`{"value": 1.0}`, 422, 0},
	} {
		var sm jsonSample
		code := s.do("POST", rate, "application/json", strings.NewReader(c.body), &sm)
		if code != c.code || (code == 200 && sm.Rating != c.rating) {
			t.Errorf("rate %s: %d, rating %d; want %d and %d", c.body, code, sm.Rating, c.code, c.rating)
		}
	}
	if code := s.do("POST", "/api/samples/999999/rating", "application/json", strings.NewReader(`{"value": 1}`), nil); code != http.StatusNotFound {
		t.Errorf("rating a sample that does not exist: %d, want 404", code)
	}
}

// The API's "loss" and "mbstd": the studio's default when left out, what
// was asked when it is one of the field's values, and anything else refused
// with the field named.
func TestAPIRunSettings(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	type tcase struct {
		value string // the JSON sent; "" leaves the field out
		code  int
		want  string // the setting in the answer and stored (201)
	}
	for _, f := range []struct {
		field string
		cases []tcase
		// got reads the setting from the answer and from the store.
		got func(answered jsonConfig, stored spec.Config) (string, string)
	}{
		{"loss", []tcase{
			{"", 201, spec.LossNS},
			{`"hinge"`, 201, spec.LossHinge},
			{`"ns"`, 201, spec.LossNS},
			{`" hinge "`, 201, spec.LossHinge},
			{`"wgan"`, 422, ""},
			{`"Hinge"`, 422, ""},
			{`1`, 422, ""},
		}, func(a jsonConfig, c spec.Config) (string, string) { return a.Loss, cmp.Or(c.Loss, spec.LossNS) }},
		{"mbstd", []tcase{
			{"", 201, fmt.Sprint(spec.Studio(32).MBStd)},
			{`true`, 201, "true"},
			{`false`, 201, "false"},
			{`"yes"`, 422, ""},
			{`1`, 422, ""},
		}, func(a jsonConfig, c spec.Config) (string, string) { return fmt.Sprint(a.MBStd), fmt.Sprint(c.MBStd) }},
	} {
		for _, c := range f.cases {
			body, code, raw, a := postRunWith(s, f.field, c.value)
			if code != c.code {
				t.Errorf("%s: status %d (%s), want %d", body, code, raw, c.code)
				continue
			}
			if code == 422 {
				if msg := a.Fields[f.field]; msg == "" || goType.MatchString(msg) {
					t.Errorf("%s: %s, want the %s field named with a message a person reads", body, raw, f.field)
				}
				continue
			}
			var r jsonRun
			json.Unmarshal(raw, &r)
			stored, err := s.st.Run(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			answered, kept := f.got(r.Config, stored.Config.Config)
			if answered != c.want || kept != c.want {
				t.Errorf("%s: answered %s %q, stored %q; want %q", body, f.field, answered, kept, c.want)
			}
		}
	}
}

// postRunWith creates a 5-step run with one field set to the JSON value
// (left out when value is ""), and returns the body sent, the status, the
// answer and, for an error, the answer read as one.
func postRunWith(s *studio, field, value string) (string, int, json.RawMessage, apiError) {
	body := `{"dataset_id": 1, "steps": 5}`
	if value != "" {
		body = fmt.Sprintf(`{"dataset_id": 1, "steps": 5, %q: %s}`, field, value)
	}
	var raw json.RawMessage
	code := s.do("POST", "/api/runs", "application/json", strings.NewReader(body), &raw)
	var a apiError
	if code >= 400 {
		json.Unmarshal(raw, &a)
	}
	return body, code, raw, a
}
