package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// heartbeat records a worker for device, last heard from ago.
func (s *studio) heartbeat(id, device string, ago time.Duration) {
	s.t.Helper()
	ctx := context.Background()
	if err := s.st.Heartbeat(ctx, store.Worker{ID: id, Host: "gpu-box", Device: device}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.st.DB.ExecContext(ctx, `UPDATE workers SET seen_at = $1 WHERE id = $2`, time.Now().Add(-ago).UnixMilli(), id); err != nil {
		s.t.Fatal(err)
	}
}

func (s *studio) get(path string) string {
	s.t.Helper()
	resp, err := http.Get(s.srv.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(b)
}

// TestNewRunDeviceChoice: the form offers a device only while a worker for
// one besides the CPU is alive.
func TestNewRunDeviceChoice(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	for _, c := range []struct {
		name       string
		worker     store.Worker // added before looking; ID "" for none
		ago        time.Duration
		wantSelect bool
	}{
		{"no workers", store.Worker{}, 0, false},
		{"a cpu worker", store.Worker{ID: "cpu-1", Device: "cpu"}, 0, false},
		{"a cuda worker gone quiet", store.Worker{ID: "cuda-old", Device: "cuda"}, time.Hour, false},
		{"a live cuda worker", store.Worker{ID: "cuda-1", Device: "cuda"}, time.Second, true},
	} {
		if c.worker.ID != "" {
			s.heartbeat(c.worker.ID, c.worker.Device, c.ago)
		}
		page := s.get("/runs/new")
		if got := strings.Contains(page, `<select name="device"`); got != c.wantSelect {
			t.Errorf("%s: device select shown: %v, want %v", c.name, got, c.wantSelect)
		}
		if c.wantSelect && (!strings.Contains(page, `<option value="cuda">GPU (cuda)</option>`) || !strings.Contains(page, `<option value="cpu" selected>CPU</option>`)) {
			t.Errorf("%s: the select lacks CPU (chosen) and GPU (cuda):\n%s", c.name, between(page, `<select name="device"`, `</select>`))
		}
	}
}

// TestRunDeviceAPI: POST /api/runs takes an optional device, refused with a
// way out while no worker trains on it; the run keeps it and shows it.
func TestRunDeviceAPI(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	cases := []struct {
		name   string
		worker bool // a live cuda worker first
		body   string
		code   int
		device string // of the run made, or the field in error
		want   string // in the error
	}{
		{"default", false, `{"dataset_id": 1, "steps": 5}`, 201, "cpu", ""},
		{"cpu", false, `{"dataset_id": 1, "steps": 5, "device": "cpu"}`, 201, "cpu", ""},
		{"cuda without a worker", false, `{"dataset_id": 1, "steps": 5, "device": "cuda"}`, 422, "device", "ganstudio-cuda worker --data"},
		{"unknown device", true, `{"dataset_id": 1, "steps": 5, "device": "tpu"}`, 422, "device", `"tpu"`},
		{"not a string", false, `{"dataset_id": 1, "device": 1}`, 422, "device", "wrong type"},
		{"cuda with a worker", true, `{"dataset_id": 1, "steps": 5, "device": "cuda"}`, 201, "cuda", ""},
		// The device path has augmentation and the generator average too.
		{"cuda with augmentation", true, `{"dataset_id": 1, "steps": 5, "device": "cuda", "augment": "auto"}`, 201, "cuda", ""},
	}
	for _, c := range cases {
		if c.worker {
			s.heartbeat("cuda-1", "cuda", 0)
		}
		var run jsonRun
		var a apiError
		out := any(&run)
		if c.code != 201 {
			out = &a
		}
		code := s.do("POST", "/api/runs", "application/json", strings.NewReader(c.body), out)
		if code != c.code {
			t.Errorf("%s: status %d (%s), want %d", c.name, code, a.Error, c.code)
			continue
		}
		if c.code != 201 {
			if msg := a.Fields[c.device]; !strings.Contains(msg, c.want) || !strings.Contains(a.Error, c.device+": ") {
				t.Errorf("%s: error %q, field %q: %q; want the field named and %q", c.name, a.Error, c.device, msg, c.want)
			}
			continue
		}
		if run.Device != c.device {
			t.Errorf("%s: answered a run for %q, want %q", c.name, run.Device, c.device)
		}
		// Every device trains the studio's engine.
		aug, ema := "auto", 10_000.0
		if run.Config.Augment != aug || run.Config.EMA != ema {
			t.Errorf("%s: a run with augment %q, EMA %g; want %q, %g", c.name, run.Config.Augment, run.Config.EMA, aug, ema)
		}
		stored, err := s.st.Run(context.Background(), run.ID)
		if err != nil || stored.Device != c.device {
			t.Errorf("%s: stored run for %q (%v), want %q", c.name, stored.Device, err, c.device)
		}
		var got jsonRun
		if s.do("GET", fmt.Sprintf("/api/runs/%d", run.ID), "", nil, &got); got.Device != c.device {
			t.Errorf("%s: GET shows device %q, want %q", c.name, got.Device, c.device)
		}
	}
}

// TestNewRunFormDevice: the form refuses a device whose worker has gone,
// with the message beside the field; with the worker alive it starts the
// run there, and the run page says where and (once claimed) by whom.
func TestNewRunFormDevice(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	s.heartbeat("cuda-1", "cuda", 0)
	client := &http.Client{Jar: &cookieJar{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.srv.URL + "/runs/new")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"_csrf": {between(string(page), `name="_csrf" value="`, `"`)}}
	for k, v := range defaultRunForm(1) {
		form.Set(k, v)
	}
	form.Set("steps", "5")
	form.Set("device", "cuda")

	s.heartbeat("cuda-1", "cuda", time.Hour) // the worker goes quiet before the form is sent
	resp, err = client.PostForm(s.srv.URL+"/runs", form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a cuda run without a worker: %d, want 422", resp.StatusCode)
	}
	msg := between(string(page), `id="device-error">`, `<`)
	if !strings.Contains(msg, "ganstudio-cuda worker --data") || !strings.Contains(string(page), `<option value="cuda" selected>`) {
		t.Errorf("the form shown again lacks the device's message (%q) or its choice", msg)
	}

	// With a worker, the GPU run starts with the studio's engine.
	s.heartbeat("cuda-1", "cuda", 0)
	form.Set("augment_mode", "auto")
	resp, err = client.PostForm(s.srv.URL+"/runs", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs/1" {
		t.Fatalf("a cuda run with a worker: %d to %q, want 303 to /runs/1", resp.StatusCode, resp.Header.Get("Location"))
	}
	ctx := context.Background()
	r, err := s.st.Run(ctx, 1)
	if err != nil || r.Device != "cuda" {
		t.Fatalf("stored run for %q (%v), want cuda", r.Device, err)
	}
	if r.Config.Augment.Mode != spec.AugAuto || r.Config.EMA == 0 {
		t.Errorf("a cuda run with augmentation %+v and generator average %g: want auto and an average, as on the CPU", r.Config.Augment, r.Config.EMA)
	}
	page = []byte(s.get("/runs/1"))
	if !strings.Contains(string(page), "GPU (cuda)") || !strings.Contains(string(page), "waiting for a GPU (cuda) worker") {
		t.Error("the run page does not say the run is for the GPU")
	}
	if _, ok, err := s.st.Claim(ctx, 1, r.JobID, "cuda-1", "cuda"); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if page := s.get("/runs/1"); !strings.Contains(page, "<dd>cuda-1</dd>") {
		t.Error("the run page does not name the worker training the run")
	}
	if cards := s.get("/panel/runs"); !strings.Contains(cards, `<span class="run-device">GPU (cuda)</span>`) {
		t.Error("the dashboard's run card does not say the run is on the GPU")
	}
}
