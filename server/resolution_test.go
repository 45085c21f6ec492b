package server

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUploadKeepsLargestSide: an upload is kept at the largest side its
// images support (up to 256 px), the API says which sides each dataset
// serves, and a run larger than its dataset is refused, naming the limit.
func TestUploadKeepsLargestSide(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	type answer struct {
		ID          int64 `json:"id"`
		Res         int   `json:"res"`
		MaxRes      int   `json:"max_res"`
		Resolutions []int `json:"resolutions"`
	}
	big, small := pngBytes(color.NRGBA{200, 0, 0, 255}, 300, 280), pngBytes(color.NRGBA{0, 0, 200, 255}, 80, 90)
	cases := []struct {
		name  string
		files map[string][]byte
		want  int
		sides string
	}{
		{"photos", map[string][]byte{"a.png": big, "b.png": big}, 256, "[32 64 128 256]"},
		{"small images", map[string][]byte{"a.png": small, "b.png": small}, 64, "[32 64]"},
	}
	ids := map[int]int64{}
	for _, c := range cases {
		var a answer
		if code := s.upload(c.name, c.files, &a); code != 201 {
			t.Fatalf("%s: status %d", c.name, code)
		}
		var d answer
		s.do("GET", fmt.Sprintf("/api/datasets/%d", a.ID), "", nil, &d)
		if d.Res != c.want || d.MaxRes != c.want || fmt.Sprint(d.Resolutions) != c.sides {
			t.Errorf("%s: kept at %d, largest %d, sides %v; want %d, %s", c.name, d.Res, d.MaxRes, d.Resolutions, c.want, c.sides)
		}
		ids[c.want] = a.ID
	}
	var list struct{ Datasets []answer }
	s.do("GET", "/api/datasets", "", nil, &list)
	if len(list.Datasets) != 3 || list.Datasets[0].MaxRes != 64 { // shapes, as the test studio records it
		t.Errorf("listing %+v: want shapes first with its largest side, then both uploads", list.Datasets)
	}

	runs := []struct {
		dataset int64
		res     int
		code    int
		says    string
	}{
		{ids[256], 128, 201, ""},
		{ids[256], 256, 201, ""},
		{ids[64], 64, 201, ""},
		{ids[64], 128, 422, "kept at up to 64 pixels"},
		{1, 128, 422, "kept at up to 64 pixels"}, // built-in ones are checked too
		{ids[256], 512, 422, "32, 64, 128 or 256"},
	}
	for _, r := range runs {
		var a apiError
		body := fmt.Sprintf(`{"dataset_id": %d, "steps": 4, "width": 0.25, "batch": 4, "res": %d}`, r.dataset, r.res)
		code := s.do("POST", "/api/runs", "application/json", strings.NewReader(body), &a)
		if code != r.code || !strings.Contains(a.Fields["res"], r.says) {
			t.Errorf("run at %d on dataset %d: %d %+v, want %d saying %q", r.res, r.dataset, code, a, r.code, r.says)
		}
	}

	// The preview of a 256 px dataset is drawn at 64 px a tile.
	resp, err := http.Get(fmt.Sprintf("%s/datasets/%d/preview.png", s.srv.URL, ids[256]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if resp.StatusCode != 200 || err != nil || cfg.Height < 64 || cfg.Height >= 128 { // one row and its border
		t.Errorf("preview: %d, %v, %d px high; want one row of 64 px tiles", resp.StatusCode, err, cfg.Height)
	}

	// The datasets page says what each one is kept at.
	resp, err = http.Get(fmt.Sprintf("%s/datasets/%d", s.srv.URL, ids[256]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(page), "256×256 px") || !strings.Contains(string(page), "32, 64, 128 or 256 px") {
		t.Errorf("dataset page does not say it is kept at 256 px and trains at 32 to 256")
	}
}
