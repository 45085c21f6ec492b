package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/internal/storetest"
	"github.com/ganstudio/ganstudio/internal/wait"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

type studio struct {
	t   *testing.T
	dir string // the data folder
	st  *store.Store
	q   *jobs.Queue
	srv *httptest.Server
}

// testConfig is the studio in dir on the backend the tests run against
// (see storetest).
func testConfig(t testing.TB, dir string) store.Config {
	t.Helper()
	db, blobs := storetest.Config(t, dir)
	return store.Config{Dir: dir, Database: db, Blobs: blobs}
}

func newStudio(t *testing.T, work bool, opts Options) *studio {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenConfig(ctx, testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureBuiltin(ctx, "shapes", 64, 2048); err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(ctx, st, jobs.Options{Work: work, Heartbeat: 100 * time.Millisecond, FetchPoll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(st, q, opts))
	t.Cleanup(func() {
		srv.Close()
		q.Stop(ctx)
		st.Close()
	})
	return &studio{t: t, dir: dir, st: st, q: q, srv: srv}
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (s *studio) do(method, path, ctype string, body io.Reader, out any) int {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return s.doReq(req, out)
}

// waitRun polls GET /api/runs/ID into run until done says so, failing at
// once if the run fails.
func (s *studio) waitRun(run *jsonRun, what string, done func(*jsonRun) bool) {
	s.t.Helper()
	state := func() string { return fmt.Sprintf("run is %s at step %d (%s)", run.State, run.Step, run.Error) }
	wait.Until(s.t, 2*time.Minute, what, func() bool {
		s.do("GET", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, run)
		if run.State == store.Failed && !done(run) {
			s.t.Fatalf("waiting for %s: %s", what, state())
		}
		return done(run)
	}, state)
}

func (s *studio) doReq(req *http.Request, out any) int {
	s.t.Helper()
	method, path := req.Method, req.URL.Path
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func pngBytes(c color.Color, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Set(i%w, i/w, c)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func zipOf(files map[string][]byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range files {
		w, _ := zw.Create(name)
		w.Write(data)
	}
	zw.Close()
	return b.Bytes()
}

// upload posts files as the multipart form POST /api/datasets takes.
func (s *studio) upload(name string, files map[string][]byte, out any) int {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if name != "" {
		mw.WriteField("name", name)
	}
	for fn, data := range files {
		w, _ := mw.CreateFormFile("files", fn)
		w.Write(data)
	}
	mw.Close()
	return s.do("POST", "/api/datasets", mw.FormDataContentType(), &b, out)
}

func TestUploadDatasets(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	red, blue := pngBytes(color.NRGBA{200, 0, 0, 255}, 80, 60), pngBytes(color.NRGBA{0, 0, 200, 255}, 40, 40)
	type answer struct {
		ID     int64              `json:"id"`
		Count  int                `json:"count"`
		Name   string             `json:"name"`
		Error  string             `json:"error"`
		Report store.ImportReport `json:"report"`
	}
	cases := []struct {
		name       string
		files      map[string][]byte
		wantStatus int
		wantCount  int
		wantText   string // in the error or a skipped reason
	}{
		{"images", map[string][]byte{"a.png": red, "b.png": blue, "notes.txt": []byte("hello")}, 201, 2, "not a PNG"},
		{"zip", map[string][]byte{"set.zip": zipOf(map[string][]byte{"x/1.png": red, "x/2.png": blue, "x/3.png": []byte("broken")})}, 201, 2, "not a PNG"},
		{"zip in a zip", map[string][]byte{"outer.zip": zipOf(map[string][]byte{"1.png": red, "inner.zip": zipOf(map[string][]byte{"2.png": blue})})}, 201, 1, "archives inside a zip or folder are not unpacked"},
		{"empty file", map[string][]byte{"a.png": red, "empty.png": {}}, 201, 1, "empty file"},
		{"zip slip", map[string][]byte{"evil.zip": zipOf(map[string][]byte{"../../etc/passwd.png": red})}, 422, 0, "outside the archive"},
		{"broken zip", map[string][]byte{"cut.zip": zipOf(map[string][]byte{"1.png": red})[:30]}, 422, 0, "not a readable zip"},
		{"no images", map[string][]byte{"a.txt": []byte("text")}, 422, 0, "no usable images"},
		{"nothing", map[string][]byte{}, 422, 0, "choose some images"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a answer
			code := s.upload("", c.files, &a)
			if code != c.wantStatus {
				t.Fatalf("status %d (%+v), want %d", code, a, c.wantStatus)
			}
			text := a.Error
			for _, sk := range a.Report.Skipped {
				text += " " + sk.Reason
			}
			if code == 201 {
				var d answer
				s.do("GET", fmt.Sprintf("/api/datasets/%d", a.ID), "", nil, &d)
				if d.Count != c.wantCount {
					t.Errorf("dataset has %d images, want %d", d.Count, c.wantCount)
				}
				for _, sk := range d.Report.Skipped {
					text += " " + sk.Reason
				}
			}
			if !strings.Contains(text, c.wantText) {
				t.Errorf("answer %q does not say %q", text, c.wantText)
			}
		})
	}
	list, _ := s.st.Datasets(context.Background())
	if len(list) != 5 { // shapes + the four good uploads: failures leave nothing
		t.Errorf("%d datasets after the uploads, want 5", len(list))
	}
}

// TestUploadNames: with the name field left empty, an upload is named
// after the zip chosen, else the folder its files came from.
func TestUploadNames(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	red := pngBytes(color.NRGBA{200, 0, 0, 255}, 8, 8)
	for _, c := range []struct {
		files map[string][]byte
		want  string
	}{
		{map[string][]byte{"icons.zip": zipOf(map[string][]byte{"a.png": red, "b.png": red})}, "icons"},
		{map[string][]byte{"set.zip": zipOf(map[string][]byte{"export/a.png": red})}, "set"},
		{map[string][]byte{"flags/a.png": red, "flags/b.png": red}, "flags"},
		{map[string][]byte{"a.png": red, "b.png": red}, "upload of 2 images"},
	} {
		var d struct{ Name string }
		if code := s.upload("", c.files, &d); code != 201 || d.Name != c.want {
			t.Errorf("%v: %d, named %q, want %q", slices.Collect(maps.Keys(c.files)), code, d.Name, c.want)
		}
	}
}

func TestUploadTooLarge(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxUpload = 64 << 10
	s := newStudio(t, false, opts)
	big := make([]byte, 200<<10)
	var a apiError
	if code := s.upload("big", map[string][]byte{"big.png": big}, &a); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d (%v), want 413", code, a.Error)
	}
	if !strings.Contains(a.Error, "larger than") {
		t.Errorf("error %q does not say the upload was too large", a.Error)
	}
}

func TestRunAPIValidation(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	cases := []struct {
		body  string
		code  int
		field string
	}{
		{`{"dataset_id": 1, "steps": "x"}`, 422, "steps"},
		{`{"dataset_id": 1, "res": 48}`, 422, "res"},
		{`{"dataset_id": 1, "lr_g": 5}`, 422, "lr_g"},
		{`{"dataset_id": 99}`, 422, "dataset_id"},
		{`{"dataset_id": 1, "colour": "red"}`, 422, "colour"},
		{`{"dataset_id": 1,`, 400, ""},
		{`{"dataset_id": 1, "steps": 20, "width": 0.25, "batch": 4}`, 201, ""},
	}
	for _, c := range cases {
		var a apiError
		code := s.do("POST", "/api/runs", "application/json", strings.NewReader(c.body), &a)
		if code != c.code {
			t.Errorf("%s: status %d (%s), want %d", c.body, code, a.Error, c.code)
		}
		if c.field != "" && a.Fields[c.field] == "" {
			t.Errorf("%s: no message for field %q in %+v", c.body, c.field, a)
		}
	}
	var run jsonRun
	if code := s.do("GET", "/api/runs/1", "", nil, &run); code != 200 || run.State != store.Queued || run.Steps != 20 {
		t.Errorf("GET /api/runs/1: %d %+v, want a queued 20-step run", code, run)
	}
	for _, p := range []string{"/api/runs/2", "/api/runs/abc", "/api/datasets/7", "/api/runs/1/samples?rating=5"} {
		var a apiError
		if code := s.do("GET", p, "", nil, &a); code/100 != 4 || a.Error == "" {
			t.Errorf("GET %s: %d %+v, want a 4xx with an error message", p, code, a)
		}
	}
	// Cancel a queued run; then pausing it is a conflict.
	if code := s.do("POST", "/api/runs/1/cancel", "", nil, &run); code != 200 || run.State != store.Cancelled {
		t.Errorf("cancel: %d %s", code, run.State)
	}
	var a apiError
	if code := s.do("POST", "/api/runs/1/pause", "", nil, &a); code != http.StatusConflict {
		t.Errorf("pause a cancelled run: %d %s, want 409", code, a.Error)
	}
}

func TestCSRF(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	// A form without its token and one with a forged token: the same
	// refusal, the friendly 403 page.
	for _, c := range []struct {
		name  string
		token string
	}{{"no token", ""}, {"a forged token", "forged"}} {
		body := url.Values{"dataset_id": {"1"}, "res": {"32"}}
		if c.token != "" {
			body.Set("_csrf", c.token)
		}
		req, _ := http.NewRequest("POST", s.srv.URL+"/runs", strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.token != "" {
			req.AddCookie(&http.Cookie{Name: "ganstudio_csrf", Value: "another"})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(page), "reload the page") || strings.Contains(string(page), "csrf token") {
			t.Errorf("form with %s: %d, want 403 with the friendly page; got %.300s", c.name, resp.StatusCode, page)
		}
	}
	// A cross-site browser request to the API.
	req, _ := http.NewRequest("POST", s.srv.URL+"/api/runs", strings.NewReader(`{"dataset_id":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	var refused apiError
	if code := s.doReq(req, &refused); code != http.StatusForbidden || refused.Error == "" {
		t.Errorf("cross-site API request: %d %+v, want 403 with a JSON error", code, refused)
	}
	// A page on another domain that rebinds its name to 127.0.0.1.
	req, _ = http.NewRequest("POST", s.srv.URL+"/api/runs", strings.NewReader(`{"dataset_id":1}`))
	req.Host = "attacker.example:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("request addressed to another host name: %d, want 403", resp.StatusCode)
	}
	runs, _ := s.st.Runs(context.Background())
	if len(runs) != 0 {
		t.Errorf("%d runs were created by refused requests", len(runs))
	}
}

// TestTrainRateDownload trains a tiny run through the API and checks the
// samples, ratings, downloads and pages that follow.
func TestTrainRateDownload(t *testing.T) {
	s := newStudio(t, true, DefaultOptions())
	var run jsonRun
	// A fixed augmentation strength, to find in every step's figures.
	body := `{"dataset_id": 1, "steps": 12, "width": 0.25, "batch": 4, "snapshot_every": 6, "augment": "0.5"}`
	if code := s.do("POST", "/api/runs", "application/json", strings.NewReader(body), &run); code != 201 {
		t.Fatalf("create run: %d", code)
	}
	s.waitRun(&run, "the run to finish", func(r *jsonRun) bool { return r.State == store.Done })
	if run.Metrics == nil || run.Metrics.Step != 12 || len(run.Snapshots) != 3 {
		t.Fatalf("finished run: metrics %+v, %d snapshots; want step 12 and snapshots 0, 6, 12", run.Metrics, len(run.Snapshots))
	}
	var list struct {
		Samples []jsonSample `json:"samples"`
		Total   int          `json:"total"`
	}
	s.do("GET", fmt.Sprintf("/api/runs/%d/samples", run.ID), "", nil, &list)
	if want := jobs.SnapshotSamples + jobs.FinalSamples; list.Total != want { // step 6, then the final ones at 12
		t.Fatalf("%d samples, want %d", list.Total, want)
	}
	liked := list.Samples[3]
	var a apiError
	gen := fmt.Sprintf("/api/runs/%d/generate", run.ID)
	if code := s.do("POST", gen, "application/json", strings.NewReader(`{"n": 4, "bias": true}`), &a); code != 422 || a.Fields["bias"] == "" {
		t.Errorf("biased generate with nothing liked: %d %+v, want 422 on bias", code, a)
	}
	var rated jsonSample
	for _, v := range []string{`{"value": -1}`, `{"value": 1}`} { // re-rating replaces the rating
		if code := s.do("POST", fmt.Sprintf("/api/samples/%d/rating", liked.ID), "application/json", strings.NewReader(v), &rated); code != 200 {
			t.Fatalf("rate: %d", code)
		}
	}
	if rated.Rating != 1 {
		t.Errorf("rating after re-rating is %d, want 1", rated.Rating)
	}
	var got struct {
		Samples []jsonSample `json:"samples"`
	}
	if code := s.do("POST", gen, "application/json", strings.NewReader(`{"n": 4, "bias": true}`), &got); code != 201 || len(got.Samples) != 4 {
		t.Errorf("biased generate near a liked sample: %d, %d samples", code, len(got.Samples))
	}
	if code := s.do("POST", fmt.Sprintf("/api/samples/%d/rating", liked.ID), "application/json", strings.NewReader(`{"value": 2}`), &a); code != 422 {
		t.Errorf("rating 2: %d, want 422", code)
	}
	if code := s.do("POST", "/api/samples/999999/rating", "application/json", strings.NewReader(`{"value": 1}`), &a); code != 404 {
		t.Errorf("rating an unknown sample: %d, want 404", code)
	}

	// The liked zip holds that one PNG and a manifest with its latent.
	resp, err := http.Get(s.srv.URL + fmt.Sprintf("/api/runs/%d/samples.zip?rating=1", run.ID))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("liked zip: %v", err)
	}
	if len(zr.File) != 2 {
		t.Fatalf("liked zip has %d files, want a PNG and manifest.json", len(zr.File))
	}
	var manifest struct {
		Run     int64           `json:"run"`
		Samples []manifestEntry `json:"samples"`
	}
	f, _ := zr.Open("manifest.json")
	json.NewDecoder(f).Decode(&manifest)
	if len(manifest.Samples) != 1 || manifest.Samples[0].Sample != liked.ID || len(manifest.Samples[0].Latent) != 128 {
		t.Errorf("manifest %+v, want sample %d with its 128-value latent", manifest, liked.ID)
	}
	sa, sb := list.Samples[0].ID, list.Samples[1].ID
	for _, q := range []string{
		fmt.Sprintf("a=%d&b=%d&frames=100", sa, sb), fmt.Sprintf("a=%d&b=%d&frames=x", sa, sb), fmt.Sprintf("a=999999&b=%d", sb),
	} {
		path := fmt.Sprintf("/runs/%d/interpolate.png?%s", run.ID, q)
		if code := s.do("GET", path, "", nil, nil); code/100 != 4 {
			t.Errorf("GET %s: %d, want a 4xx", path, code)
		}
	}
	// PNGs, upscaled PNGs, grids, checkpoints, CSV.
	for _, c := range []struct {
		path  string
		ctype string
		side  int
	}{
		{fmt.Sprintf("/samples/%d.png", liked.ID), "image/png", 32},
		{fmt.Sprintf("/samples/%d.png?scale=4&download=1", liked.ID), "image/png", 128},
		{fmt.Sprintf("/runs/%d/grids/12.png", run.ID), "image/png", 8*34 + 2},
		{fmt.Sprintf("/runs/%d/checkpoints/12.gob", run.ID), "application/octet-stream", 0},
		{fmt.Sprintf("/runs/%d/metrics.csv", run.ID), "text/csv; charset=utf-8", 0},
		{fmt.Sprintf("/runs/%d/interpolate.png?a=%d&b=%d&frames=5", run.ID, list.Samples[0].ID, list.Samples[1].ID), "image/png", 0},
	} {
		resp, err := http.Get(s.srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("GET %s: %d %s, want 200 %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.ctype)
			continue
		}
		if c.side > 0 {
			img, err := png.Decode(bytes.NewReader(raw))
			if err != nil || img.Bounds().Dx() != c.side {
				t.Errorf("GET %s: not a %dpx PNG (%v)", c.path, c.side, err)
			}
		}
		if strings.HasSuffix(c.path, ".csv") {
			rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
			if err != nil || len(rows) != 13 {
				t.Errorf("metrics CSV has %d rows (%v), want a header and 12 steps", len(rows), err)
			}
			for _, row := range rows[1:] {
				if row[6] != "0.5" {
					t.Errorf("metrics CSV step %s: aug_p %s, want the run's fixed 0.5", row[0], row[6])
				}
			}
		}
	}
	// Pages render with what they promise.
	for path, want := range map[string]string{
		"/":                             "Train on shapes",
		fmt.Sprintf("/runs/%d", run.ID): "Fixed-latent grid",
		fmt.Sprintf("/runs/%d/panel/charts", run.ID):     `<span class="legend s3">strength 0.50</span>`,
		fmt.Sprintf("/runs/%d/samples", run.ID):          fmt.Sprintf("sample-%d", liked.ID),
		fmt.Sprintf("/runs/%d/samples?rating=1", run.ID): "1 samples",
		"/datasets":   "Drop a zip",
		"/runs/new":   "Start training",
		"/runs/12345": "not found",
	} {
		resp, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(raw), want) {
			t.Errorf("GET %s (%d) does not contain %q", path, resp.StatusCode, want)
		}
	}
}

// feedback_weight: omitted gives the default, 0 turns feedback off, and
// the run's JSON says what training made of its ratings.
func TestFeedbackWeightAPI(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	def, _ := strconv.ParseFloat(web.DefaultRunForm(1)["feedback_weight"], 64)
	for _, c := range []struct {
		body string
		want float64
		code int
	}{
		{`{"dataset_id": 1}`, def, 201},
		{`{"dataset_id": 1, "feedback_weight": 0}`, 0, 201},
		{`{"dataset_id": 1, "feedback_weight": 0.5}`, 0.5, 201},
		{`{"dataset_id": 1, "feedback_weight": 1.5}`, 0, 422},
		{`{"dataset_id": 1, "feedback_weight": "lots"}`, 0, 422},
	} {
		var run jsonRun
		code := s.do("POST", "/api/runs", "application/json", strings.NewReader(c.body), &run)
		if code != c.code || (code == 201 && run.Config.FeedbackWeight != c.want) {
			t.Errorf("POST %s: %d, weight %g; want %d, %g", c.body, code, run.Config.FeedbackWeight, c.code, c.want)
		}
		if code == 201 {
			s.do("GET", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, &run)
			if run.Feedback == nil || run.Feedback.Since != -1 || run.Feedback.Weight != c.want {
				t.Errorf("run %d feedback %+v, want none used yet at weight %g", run.ID, run.Feedback, c.want)
			}
		}
	}
	if jobs.FeedbackEvery != web.FeedbackEvery {
		t.Errorf("the run page says ratings are read every %d steps; the worker reads every %d", web.FeedbackEvery, jobs.FeedbackEvery)
	}
	if jobs.DefaultSession != web.SessionSize {
		t.Errorf("the pages start sessions of %d samples; the worker's default is %d", web.SessionSize, jobs.DefaultSession)
	}
}

func TestDeleteRunAPI(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 5}`), &run)
	var a apiError
	if code := s.do("DELETE", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, &a); code != http.StatusConflict {
		t.Errorf("deleting a queued run: %d %s, want 409", code, a.Error)
	}
	s.do("POST", fmt.Sprintf("/api/runs/%d/cancel", run.ID), "", nil, &run)
	if code := s.do("DELETE", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, nil); code != http.StatusNoContent {
		t.Errorf("deleting a cancelled run: %d, want 204", code)
	}
	if code := s.do("GET", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, &a); code != http.StatusNotFound {
		t.Errorf("a deleted run: %d, want 404", code)
	}
}

func TestNewRunFormShowsFieldErrors(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	jar := &cookieJar{}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(s.srv.URL + "/runs/new")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := between(string(page), `name="_csrf" value="`, `"`)
	if tok == "" {
		t.Fatal("the form has no CSRF token")
	}
	form := url.Values{"_csrf": {tok}, "dataset_id": {"1"}, "res": {"32"}, "width": {"1"}, "steps": {"-5"},
		"batch": {"64"}, "lr_g": {"abc"}, "lr_d": {"0.0002"}, "seed": {"1"}, "feedback_weight": {"0"}, "snapshot_every": {"50"}}
	resp, err = client.PostForm(s.srv.URL+"/runs", form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Fatalf("bad form: %d, want 422", resp.StatusCode)
	}
	for _, want := range []string{`id="steps-error"`, `id="lr_g-error"`, `value="abc"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the form shown again lacks %s", want)
		}
	}
	// The same form, fixed, starts a run.
	form.Set("steps", "10")
	form.Set("lr_g", "0.0002")
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = client.PostForm(s.srv.URL+"/runs", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs/1" {
		t.Errorf("good form: %d to %q, want 303 to /runs/1", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The run page's delete form: refused while queued, done once cancelled.
	del := url.Values{"_csrf": {tok}}
	for _, c := range []struct {
		cancel bool
		code   int
	}{{false, http.StatusConflict}, {true, http.StatusSeeOther}} {
		if c.cancel {
			s.do("POST", "/api/runs/1/cancel", "", nil, nil)
		}
		resp, err = client.PostForm(s.srv.URL+"/runs/1/delete", del)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("delete form (cancelled first: %v): %d, want %d", c.cancel, resp.StatusCode, c.code)
		}
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	return s[:strings.Index(s, b)]
}

// cookieJar keeps cookies for one test server.
type cookieJar struct{ cookies []*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.cookies = append(j.cookies, cs...) }
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie          { return j.cookies }

var _ = datasets.DefaultLimits

func TestRollbackAPI(t *testing.T) {
	s := newStudio(t, true, DefaultOptions())
	var a apiError
	if code := s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "collapse_policy": "fix"}`), &a); code != 422 || a.Fields["collapse_policy"] == "" {
		t.Errorf("a bad collapse policy: %d %+v", code, a)
	}
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 20, "snapshot_every": 10, "width": 0.25, "batch": 4, "collapse_policy": "warn"}`), &run)
	path := fmt.Sprintf("/api/runs/%d", run.ID)
	rollback := func(body string, out any) int {
		return s.do("POST", path+"/rollback", "application/json", strings.NewReader(body), out)
	}
	// A queued run (no worker in this second studio) cannot be rolled back.
	idle := newStudio(t, false, DefaultOptions())
	var queued jsonRun
	idle.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 5}`), &queued)
	if code := idle.do("POST", fmt.Sprintf("/api/runs/%d/rollback", queued.ID), "application/json", strings.NewReader(`{"step": 0}`), &a); code != http.StatusConflict {
		t.Errorf("rolling back a queued run: %d %s, want 409", code, a.Error)
	}
	s.waitRun(&run, "the run to finish", func(r *jsonRun) bool { return r.State == store.Done })
	if run.Config.CollapsePolicy != "warn" || len(run.Snapshots) != 3 || run.Snapshots[1].Health.Diversity < 0 {
		t.Errorf("policy %q, snapshots %+v", run.Config.CollapsePolicy, run.Snapshots)
	}
	if code := rollback(`{}`, &a); code != 422 || a.Fields["step"] == "" {
		t.Errorf("no step: %d %+v", code, a)
	}
	if code := rollback(`{"step": 10}`, &a); code != http.StatusNotFound || !strings.Contains(a.Error, "no checkpoint") {
		t.Errorf("a step whose checkpoint was not kept: %d %s, want 404", code, a.Error)
	}
	if code := rollback(`{"step": 0}`, &run); code != 200 || run.State != store.Paused || run.Step != 0 {
		t.Fatalf("rollback to 0: %d, %s at step %d", code, run.State, run.Step)
	}
	s.do("POST", path+"/resume", "", nil, &run)
	s.waitRun(&run, "the resumed run to finish", func(r *jsonRun) bool { return r.State == store.Done })
	if run.Step != 20 || len(run.Snapshots) != 3 {
		t.Errorf("retrained to step %d with %d snapshots, want 20 and 3", run.Step, len(run.Snapshots))
	}
}
