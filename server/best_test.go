package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/store"
)

// TestBestStep trains a tiny run, then gives its earliest kept checkpoint
// the lowest SWD, so the best step differs from the latest: the run page
// marks it on the quality chart and the grid timeline, the API shows it,
// and generate and the page's downloads start from it unless told the
// latest or a step.
func TestBestStep(t *testing.T) {
	s := newStudio(t, true, DefaultOptions())
	ctx := context.Background()
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 4, "snapshot_every": 2, "width": 0.25, "batch": 4, "res": 32}`), &run)
	s.waitRun(&run, "the run to finish", func(r *jsonRun) bool { return r.State == store.Done })
	snaps, err := s.st.Snapshots(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kept []int
	for _, sn := range snaps {
		if sn.Checkpoint {
			kept = append(kept, sn.Step)
		}
	}
	if len(kept) < 2 {
		t.Fatalf("checkpoints kept at %v: the test needs two", kept)
	}
	best, latest := kept[0], kept[len(kept)-1]
	index := slices.IndexFunc(snaps, func(sn store.Snapshot) bool { return sn.Step == best })
	for _, sn := range snaps {
		sn.SWD = 9
		if sn.Step == best {
			sn.SWD = 1.5
		}
		if err := s.st.AddSnapshot(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	path := fmt.Sprintf("/api/runs/%d", run.ID)

	var got jsonRun
	s.do("GET", path, "", nil, &got)
	if got.BestStep == nil || *got.BestStep != best || got.BestSWD == nil || *got.BestSWD != 1.5 {
		t.Errorf("API: best step %v, SWD %v; want %d, 1.5", got.BestStep, got.BestSWD, best)
	}

	page := s.get(fmt.Sprintf("/runs/%d", run.ID))
	bestText := fmt.Sprintf("step %d (SWD 1.50)", best)
	for _, want := range []string{
		`id="best-mark"`, // on the quality chart
		"best " + bestText,
		fmt.Sprintf(`<datalist id="grid-marks"><option value="%d" label="best"></option></datalist>`, index), // the timeline's tick
		`id="grid-best"`,
		fmt.Sprintf(`/runs/%d/samples.zip?step=%d" id="zip-best"`, run.ID, best),
		fmt.Sprintf(`/runs/%d/checkpoints/%d.gob" id="ckpt-best"`, run.ID, best),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the run page lacks %s", want)
		}
	}
	gallery := s.get(fmt.Sprintf("/runs/%d/samples", run.ID))
	if !strings.Contains(gallery, `<option value="best" selected>the best step: `+bestText) {
		t.Errorf("the samples page's generate does not start from the best step")
	}

	// Generate over the API.
	for _, c := range []struct {
		body  string
		code  int
		step  int
		field string
	}{
		{`{"n": 1}`, 201, best, ""},
		{`{"n": 1, "from": "best"}`, 201, best, ""},
		{`{"n": 1, "from": "latest"}`, 201, latest, ""},
		{fmt.Sprintf(`{"n": 1, "step": %d}`, latest), 201, latest, ""},
		{`{"n": 1, "from": "first"}`, 422, 0, "from"},
		{`{"n": 1, "from": "latest", "step": 0}`, 422, 0, "from"},
	} {
		var raw json.RawMessage
		code := s.do("POST", path+"/generate", "application/json", strings.NewReader(c.body), &raw)
		if code != c.code {
			t.Errorf("generate %s: %d %s, want %d", c.body, code, raw, c.code)
			continue
		}
		if code == 422 {
			var a apiError
			json.Unmarshal(raw, &a)
			if a.Fields[c.field] == "" {
				t.Errorf("generate %s: %s, want a message for %q", c.body, raw, c.field)
			}
			continue
		}
		var out struct{ Samples []jsonSample }
		json.Unmarshal(raw, &out)
		if len(out.Samples) != 1 || out.Samples[0].Step != c.step {
			t.Errorf("generate %s: %+v, want one sample of step %d", c.body, out.Samples, c.step)
		}
	}

	// Generate from the samples page's form: the best step unless the
	// latest is chosen.
	jar := &cookieJar{}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.srv.URL + fmt.Sprintf("/runs/%d/samples", run.ID))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := between(string(b), `name="_csrf" value="`, `"`)
	for _, c := range []struct {
		step string
		want int
	}{{"", best}, {"best", best}, {"latest", latest}, {fmt.Sprint(latest), latest}} {
		resp, err := client.PostForm(s.srv.URL+fmt.Sprintf("/runs/%d/generate", run.ID), url.Values{"_csrf": {tok}, "n": {"1"}, "step": {c.step}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if where := fmt.Sprintf("/runs/%d/samples?step=%d", run.ID, c.want); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != where {
			t.Errorf("generate form, step %q: %d to %q, want 303 to %s", c.step, resp.StatusCode, resp.Header.Get("Location"), where)
		}
	}

	// The best step's zip holds only that step's samples.
	resp, err = http.Get(s.srv.URL + fmt.Sprintf("/runs/%d/samples.zip?step=best", run.ID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || !strings.Contains(cd, fmt.Sprintf("step%d-all", best)) {
		t.Errorf("best step's zip: %d %q, want 200 named for step %d", resp.StatusCode, cd, best)
	}
}

// TestNoBestStep: before any quality is measured on a kept checkpoint,
// generate uses the latest checkpoint and the page marks nothing; asking
// for the best outright is refused with a reason.
func TestNoBestStep(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 4}`), &run)
	ctx := context.Background()
	if err := s.st.AddSnapshot(ctx, store.Snapshot{RunID: run.ID, Step: 2, SWD: -1, Checkpoint: true, Health: store.NoHealth}); err != nil {
		t.Fatal(err)
	}
	page := s.get(fmt.Sprintf("/runs/%d", run.ID))
	for _, absent := range []string{`id="best-mark"`, `id="grid-best"`, `id="zip-best"`} {
		if strings.Contains(page, absent) {
			t.Errorf("a run with no measured quality shows %s", absent)
		}
	}
	var got jsonRun
	s.do("GET", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, &got)
	if got.BestStep != nil || got.BestSWD != nil {
		t.Errorf("API: best step %v, SWD %v; want none", got.BestStep, got.BestSWD)
	}
	var a apiError
	if code := s.do("POST", fmt.Sprintf("/api/runs/%d/generate", run.ID), "application/json", strings.NewReader(`{"from": "best"}`), &a); code != 422 || !strings.Contains(a.Fields["step"], "no best step yet") {
		t.Errorf("generate from the best with none: %d %+v, want 422 saying there is none yet", code, a)
	}
}
