package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/store"
)

// A rating session from the run page: before the first checkpoint it is
// refused with a reason; after, the form draws a session and the rating
// page lists its samples for the keyboard until they are rated.
func TestRatingSession(t *testing.T) {
	s := newStudio(t, true, DefaultOptions())
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 4, "snapshot_every": 2, "width": 0.25, "batch": 4, "res": 32}`), &run)
	path := fmt.Sprintf("/runs/%d", run.ID)

	s.waitRun(&run, "the run to finish", func(r *jsonRun) bool { return r.State == store.Done })

	jar := &cookieJar{}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(p string) string {
		t.Helper()
		resp, err := client.Get(s.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, b)
		}
		return string(b)
	}
	page := get(path)
	if !strings.Contains(page, `id="rate-new"`) || !strings.Contains(page, fmt.Sprintf(`action="%s/session"`, path)) {
		t.Fatal("the run page has no Rate new samples form")
	}
	if !strings.Contains(get(path+"/samples"), `id="rate-new"`) {
		t.Error("the gallery has no Rate new samples form")
	}
	if rate := get(path + "/rate"); !strings.Contains(rate, `id="rate-empty"`) {
		t.Error("the rating page before any session does not say there is nothing to rate")
	}
	tok := between(page, `name="_csrf" value="`, `"`)
	post := func(form url.Values) *http.Response {
		t.Helper()
		resp, err := client.PostForm(s.srv.URL+path+"/session", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(url.Values{"n": {"16"}}); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a session without the CSRF token: %d", resp.StatusCode)
	}
	if resp := post(url.Values{"_csrf": {tok}, "n": {"500"}}); resp.StatusCode != 422 {
		t.Errorf("a session of 500: %d, want 422", resp.StatusCode)
	}
	resp := post(url.Values{"_csrf": {tok}, "n": {"6"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path+"/rate" {
		t.Fatalf("session form: %d to %q, want 303 to %s/rate", resp.StatusCode, resp.Header.Get("Location"), path)
	}
	rate := get(path + "/rate")
	if n := strings.Count(rate, `data-sample=`); n != 6 || !strings.Contains(rate, "data-advance") {
		t.Fatalf("the rating page shows %d samples (want 6), advance %v", n, strings.Contains(rate, "data-advance"))
	}
	// Rated ones leave the page; the rest stay, in the session's order.
	var list struct{ Samples []jsonSample }
	s.do("GET", "/api"+path+"/samples", "", nil, &list)
	var session []jsonSample
	for _, sm := range list.Samples {
		if sm.Origin == store.OriginSession {
			session = append(session, sm)
		}
	}
	if len(session) != 6 {
		t.Fatalf("%d session samples in the run, want 6", len(session))
	}
	s.do("POST", fmt.Sprintf("/api/samples/%d/rating", session[0].ID), "application/json", strings.NewReader(`{"value": 1}`), nil)
	rate = get(path + "/rate")
	if n := strings.Count(rate, `data-sample=`); n != 5 || strings.Contains(rate, fmt.Sprintf(`id="sample-%d"`, session[0].ID)) ||
		!strings.Contains(rate, fmt.Sprintf(`id="sample-%d"`, session[1].ID)) {
		t.Errorf("after rating one: %d samples on the rating page, want the other 5", n)
	}
	if !strings.Contains(rate, "1 rated in all") {
		t.Error("the rating page does not count the rating")
	}
}

// A run with no checkpoint yet (queued, no worker) has nothing to draw a
// session from: the API says why, and the run page's button is disabled.
func TestRatingSessionBeforeCheckpoint(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	var run jsonRun
	s.do("POST", "/api/runs", "application/json", strings.NewReader(`{"dataset_id": 1, "steps": 4}`), &run)
	var a apiError
	if code := s.do("POST", fmt.Sprintf("/api/runs/%d/session", run.ID), "application/json", nil, &a); code != http.StatusConflict || !strings.Contains(a.Error, "checkpoint") {
		t.Errorf("a session before any checkpoint: %d %q, want 409 naming the checkpoint", code, a.Error)
	}
	resp, err := http.Get(s.srv.URL + fmt.Sprintf("/runs/%d", run.ID))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), `id="rate-new"`) || !strings.Contains(string(b), "Rate new samples</button>") {
		t.Error("the run page offers a rating session before any checkpoint")
	}
}
