// Package e2e drives the whole studio — server, store and a CPU worker in
// this process — through a real headless Chromium, the way a user would:
// upload a zip, train a tiny run, rate a sample and download what they made.
package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/server"
	"github.com/ganstudio/ganstudio/store"
)

// chromiumPath is Debian's Chromium; nothing here ever downloads a browser.
const chromiumPath = "/usr/bin/chromium"

// testTimeout bounds the whole test, training included.
const testTimeout = 4 * time.Minute

func TestStudioInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		// CI sets GANSTUDIO_E2E=1 so that a missing browser fails loudly
		// instead of passing as a skip.
		if os.Getenv("GANSTUDIO_E2E") == "1" {
			t.Fatalf("GANSTUDIO_E2E=1 but there is no browser: %v", err)
		}
		t.Skipf("no %s (install Debian's chromium, or set GANSTUDIO_E2E=1 to make this fatal)", chromiumPath)
	}
	start := time.Now()
	base := startStudio(t)
	zipPath := writeImageZip(t, 12)
	b := newBrowser(t)
	ctx, cancel := context.WithTimeout(b.ctx, testTimeout)
	defer cancel()

	dsID := uploadDataset(t, ctx, base, zipPath)
	t.Logf("dataset %s uploaded (%s)", dsID, time.Since(start).Round(time.Millisecond))

	runID := startRun(t, ctx, base, dsID)
	waitRunDone(t, ctx, runID)
	checkLivePanels(t, ctx, runID)
	t.Logf("run %s done (%s)", runID, time.Since(start).Round(time.Millisecond))

	sampleID := likeFirstSample(t, ctx, base, runID)
	if got := apiRating(t, base, runID, sampleID); got != 1 {
		t.Fatalf("sample %s: the API says rating %d after the like, want 1", sampleID, got)
	}

	keysAndInterpolation(t, ctx)
	generateNearLiked(t, ctx, base, runID)

	dir := t.TempDir()
	allowDownloads(t, ctx, dir)
	checkPNGDownload(t, ctx, base, dir, sampleID)
	checkLikedZip(t, ctx, base, dir, runID, sampleID)
	pauseAndResume(t, ctx, base, dsID)

	if ex := b.exceptions(); len(ex) > 0 {
		t.Errorf("the pages threw %d uncaught exceptions:\n%s", len(ex), strings.Join(ex, "\n"))
	}
	t.Logf("all done in %s", time.Since(start).Round(time.Millisecond))
}

// startStudio runs the store, a fast-polling CPU worker and the server in
// this process, as cmd/ganstudio's openStudio and serve do, and returns the
// server's URL. Everything stops when the test ends.
func startStudio(t *testing.T, setup ...func(*store.Store)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range datasets.BuiltinNames {
		// Recorded at the largest side it comes at: runs may ask for any
		// side up to it.
		most, err := datasets.BuiltinMaxRes(name)
		var ds *datasets.Dataset
		if err == nil {
			ds, err = datasets.Builtin(name, 32)
		}
		if err == nil {
			_, err = st.EnsureBuiltin(ctx, name, most, ds.Len())
		}
		if err != nil {
			t.Fatalf("built-in dataset %s: %v", name, err)
		}
	}
	for _, f := range setup {
		f(st)
	}
	// Short heartbeat and poll intervals: the run starts within 100 ms
	// instead of the production default of a second.
	q, err := jobs.New(ctx, st, jobs.Options{Work: true, Device: "cpu",
		Heartbeat: 200 * time.Millisecond, StaleAfter: 5 * time.Second, FetchPoll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(st, q, server.DefaultOptions()))
	// Cleanups run last-in first-out: the server closes (its live streams
	// have ended with the run) before the worker stops and the store closes.
	t.Cleanup(func() {
		st.Close()
		cancel()
	})
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := q.Stop(sctx); err != nil {
			t.Logf("stopping the worker: %v", err)
		}
	})
	t.Cleanup(srv.Close)
	return srv.URL
}

// writeImageZip writes a zip of n small PNGs — a coloured disc or square
// on a contrasting background — and a notes.txt that the import must skip.
func writeImageZip(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shapes-upload.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		w, err := zw.Create(fmt.Sprintf("shapes/img%02d.png", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(w, shape(i)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := zw.Create("shapes/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "not an image: the import lists it as skipped\n")
	// An empty file and a zip inside the zip: skipped, each with its reason.
	if _, err := zw.Create("shapes/empty.png"); err != nil {
		t.Fatal(err)
	}
	w, err = zw.Create("shapes/more.zip")
	if err != nil {
		t.Fatal(err)
	}
	inner := zip.NewWriter(w)
	iw, _ := inner.Create("img.png")
	png.Encode(iw, shape(0))
	inner.Close()
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// shape draws image i: a disc on even i, a square on odd, colours varying.
func shape(i int) image.Image {
	const side = 64
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	fg := color.RGBA{uint8(60 + 15*i), uint8(200 - 12*i), uint8(40 * (i % 5)), 255}
	bg := color.RGBA{240 - fg.R/2, 240 - fg.G/2, 240 - fg.B/2, 255}
	r := 12 + i%4*3
	for y := range side {
		for x := range side {
			dx, dy := x-side/2, y-side/2
			in := dx*dx+dy*dy <= r*r
			if i%2 == 1 {
				in = max(dx, -dx) <= r && max(dy, -dy) <= r
			}
			if in {
				img.Set(x, y, fg)
			} else {
				img.Set(x, y, bg)
			}
		}
	}
	return img
}

// testBrowser is a headless Chromium tab and what its pages wrote to the
// console.
type testBrowser struct {
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newBrowser starts Chromium with a fresh profile and no network chatter.
// Its context has no deadline (chromedp ties the browser's life to the
// context of the first action), so a failure dump still works after the
// test's own deadline has passed.
func newBrowser(t *testing.T) *testBrowser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	b := &testBrowser{ctx: ctx}
	// Starts the browser; the subscription lasts as long as the tab.
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	return b
}

// exceptions lists the uncaught exceptions the pages threw.
func (b *testBrowser) exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.IsException() {
			out = append(out, m.String())
		}
	}
	return out
}

// dump logs what the user would see: the URL, the page's <main>, the
// console, and a screenshot kept in a folder that outlives the test.
func (b *testBrowser) dump(t *testing.T) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		t.Logf("page at failure: %s", loc)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main"), chromedp.AtLeast(0))); err == nil {
		const most = 6000
		if len(html) > most {
			html = html[:most] + "…"
		}
		t.Logf("<main> at failure:\n%s", html)
	}
	b.mu.Lock()
	for _, m := range b.console {
		t.Logf("console: %s", m)
	}
	b.mu.Unlock()
	// Quality 100 makes a PNG; anything less, a JPEG.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	// Not t.TempDir: that is removed as the test ends, screenshot and all.
	dir, err := os.MkdirTemp("", "ganstudio-e2e-")
	if err == nil {
		p := filepath.Join(dir, "failure.png")
		if err = os.WriteFile(p, shot, 0o644); err == nil {
			t.Logf("screenshot at failure: %s", p)
		}
	}
	if err != nil {
		t.Logf("saving the screenshot: %v", err)
	}
}

// do runs browser steps, failing the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitPath polls the tab's path and query (navigations replace the page,
// so a polling script in the page would die with it) until it matches re,
// and returns the first submatch. A page that shows an error instead of
// moving on fails within 30 seconds, not at the test's deadline.
func waitPath(t *testing.T, ctx context.Context, what string, re *regexp.Regexp) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	last := ""
	for {
		if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
			last = loc
			if m := re.FindStringSubmatch(requestURI(loc)); m != nil {
				return m[1]
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still at %s: %v", what, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requestURI is an absolute URL's path and query ("" if it does not parse).
func requestURI(abs string) string {
	u, err := url.Parse(abs)
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

// uploadDataset uploads the zip from the datasets page (the name field left
// empty) and returns the new dataset's id, checking its page: named after
// the zip, notes.txt, the empty file and the zip inside listed as skipped
// with their reasons.
func uploadDataset(t *testing.T, ctx context.Context, base, zipPath string) string {
	t.Helper()
	do(t, ctx, "choose the zip",
		chromedp.Navigate(base+"/datasets"),
		// The input is hidden behind a styled label; CDP sets it directly.
		chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{zipPath}),
		chromedp.Poll[chromedp.Void](`document.querySelector("#picked").textContent.startsWith("1 file")`,
			chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Click(chromedp.ID("upload-button")),
	)
	id := waitPath(t, ctx, "upload and go to the dataset's page", regexp.MustCompile(`^/datasets/(\d+)$`))
	skipped := get(t, ctx, "read the skipped files", chromedp.Text(chromedp.CSS("table.skipped")))
	for _, want := range []string{"notes.txt", "empty.png", "empty file", "more.zip", "archives inside a zip or folder are not unpacked"} {
		if !strings.Contains(skipped, want) {
			t.Errorf("the skipped-files table does not say %q:\n%s", want, skipped)
		}
	}
	if name := get(t, ctx, "read the dataset's name", chromedp.Text(chromedp.CSS("h1"))); name != strings.TrimSuffix(filepath.Base(zipPath), ".zip") {
		t.Errorf("the dataset is named %q, not after the zip %s", name, filepath.Base(zipPath))
	}
	facts := get(t, ctx, "read the dataset's facts", chromedp.Text(chromedp.CSS("dl.facts")))
	if !regexp.MustCompile(`Images\s+12\s`).MatchString(facts) {
		t.Errorf("the dataset's facts do not say 12 images:\n%s", facts)
	}
	return id
}

// startRun fills the new-run form for a run of a few seconds and returns
// the run's id.
func startRun(t *testing.T, ctx context.Context, base, dsID string) string {
	return startRunSteps(t, ctx, base, dsID, "30")
}

func startRunSteps(t *testing.T, ctx context.Context, base, dsID, steps string) string {
	t.Helper()
	do(t, ctx, "fill the new-run form",
		chromedp.Navigate(base+"/runs/new?dataset="+dsID),
		chromedp.WaitVisible(chromedp.ID("start-run")),
	)
	// Choosing a goal fills the steps and the estimate through the page's
	// script (a change event, as a person choosing makes).
	get(t, ctx, "choose the quick-look goal", chromedp.Evaluate[bool](
		`(() => { const g = document.querySelector("#goal"); g.value = "quick"; return g.dispatchEvent(new Event("change", {bubbles: true})); })()`))
	var filled, estimate string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		filled = get(t, ctx, "read the steps", chromedp.Value(chromedp.ID("steps")))
		estimate = get(t, ctx, "read the estimate", chromedp.Text(chromedp.ID("estimate-text")))
		if filled == "300" && strings.HasPrefix(estimate, "300 steps at 32 px: about") {
			break
		}
	}
	if filled != "300" || !strings.HasPrefix(estimate, "300 steps at 32 px: about") {
		t.Errorf("the quick-look goal: steps %q, estimate %q; want 300 and its time", filled, estimate)
	}
	do(t, ctx, "fill the rest of the new-run form",
		chromedp.SetValue(chromedp.ID("width"), "0.25"),
		chromedp.SetValue(chromedp.ID("steps"), steps),
		chromedp.SetValue(chromedp.ID("batch"), "8"),
		chromedp.SetValue(chromedp.ID("snapshot_every"), "10"),
		chromedp.SetValue(chromedp.ID("feedback_weight"), "1"),
		// A person opens Advanced and ticks the batch-spread box, so the
		// run trains the discriminator with minibatch stddev.
		chromedp.Click(chromedp.CSS("#advanced > summary")),
		chromedp.WaitVisible(chromedp.ID("mbstd")),
		chromedp.Click(chromedp.ID("mbstd")),
	)
	if got := get(t, ctx, "read the chosen dataset", chromedp.Value(chromedp.ID("dataset_id"))); got != dsID {
		t.Fatalf("the form chose dataset %q, want the uploaded %q", got, dsID)
	}
	do(t, ctx, "start the run", chromedp.Click(chromedp.ID("start-run")))
	return waitPath(t, ctx, "go to the run's page", regexp.MustCompile(`^/runs/(\d+)$`))
}

// waitRunDone waits for the run page's state badge, which server-sent
// events update without a reload, to say "done".
func waitRunDone(t *testing.T, ctx context.Context, runID string) {
	t.Helper()
	seen := map[string]bool{}
	var state string
	var err error
	for {
		// An error (the page still loading) is retried until the deadline.
		state, err = chromedp.Run(ctx, chromedp.Evaluate[string](
			`(document.querySelector("#run-state .state") || {textContent: ""}).textContent.trim()`))
		if err == nil {
			seen[state] = true
		}
		switch state {
		case "done":
			t.Logf("run %s: the live badge showed %v", runID, slices.Sorted(maps.Keys(seen)))
			return
		case "failed", "cancelled":
			t.Fatalf("run %s ended %s", runID, state)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s: still %q (seen %v, last error %v): %v", runID, state, seen, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkLivePanels checks that the run page, loaded while the run was
// queued, caught up without a reload: htmx refetches the controls, the
// grid and the events when the live stream says the run has finished.
func checkLivePanels(t *testing.T, ctx context.Context, runID string) {
	t.Helper()
	wait := chromedp.WithPollingTimeout(10 * time.Second)
	do(t, ctx, "see the finished run's panels update live",
		chromedp.Poll[chromedp.Void](`!document.querySelector("#pause, #cancel")`, wait),
		chromedp.Poll[chromedp.Void](`document.querySelector("#run-step").textContent === "30"`, wait),
		chromedp.Poll[chromedp.Void](`document.querySelector("#grid-step")?.textContent === "30"`, wait),
		chromedp.Poll[chromedp.Void](`document.querySelector("#events").textContent.includes("Finished")`, wait),
	)
	// The box ticked in the form is in the run's settings.
	setting := get(t, ctx, "read the batch-spread setting", chromedp.Evaluate[string](
		`[...document.querySelectorAll("dl.facts dt")].find(d => d.textContent.startsWith("Batch spread"))?.nextElementSibling.textContent ?? ""`))
	if setting != "on" {
		t.Errorf("run %s's settings say batch spread %q, want on (ticked in the form)", runID, setting)
	}
}

// likeFirstSample likes the gallery's first sample and returns its id once
// htmx has swapped in the liked card.
func likeFirstSample(t *testing.T, ctx context.Context, base, runID string) string {
	t.Helper()
	do(t, ctx, "open the gallery",
		chromedp.Navigate(base+"/runs/"+runID+"/samples"),
		chromedp.WaitVisible(chromedp.CSS("#gallery .sample")),
	)
	attr := get(t, ctx, "read the first sample's id", chromedp.AttributeValue(chromedp.CSS("#gallery .sample"), "data-sample"))
	if !attr.Exists || attr.Value == "" {
		t.Fatal("the first sample card has no data-sample")
	}
	card := "#sample-" + attr.Value
	do(t, ctx, "like sample "+attr.Value,
		chromedp.Click(chromedp.CSS(card+" .like")),
		chromedp.WaitVisible(chromedp.CSS(card+".liked "+".like.on")),
	)
	return attr.Value
}

// pauseAndResume starts a long run and pauses and resumes it with the run
// page's buttons: the badge follows, and Resume reloads the page so its
// live stream (ended by the pause) starts again.
func pauseAndResume(t *testing.T, ctx context.Context, base, dsID string) {
	t.Helper()
	runID := startRunSteps(t, ctx, base, dsID, "100000")
	ratingsReachLiveRun(t, ctx, base, runID)
	wait := chromedp.WithPollingTimeout(60 * time.Second)
	badge := func(state string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("#run-state .state")?.textContent.trim() === %q`, state), wait)
	}
	do(t, ctx, "pause run "+runID,
		badge("running"),
		chromedp.Click(chromedp.ID("pause")),
		badge("paused"),
		chromedp.WaitVisible(chromedp.ID("resume")),
	)
	do(t, ctx, "resume run "+runID,
		chromedp.Click(chromedp.ID("resume")),
		chromedp.WaitVisible(chromedp.ID("pause")),
		badge("running"),
		// Live again: the step counter moves on.
		chromedp.Poll[chromedp.Void](`(() => { const s = +document.querySelector("#run-step").textContent;
			window.__first ??= s; return s > window.__first; })()`, wait),
	)
	// Leave the worker free for whatever runs next.
	req, _ := http.NewRequest("POST", base+"/api/runs/"+runID+"/cancel", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// ratingsReachLiveRun likes and dislikes samples of a run in training and
// waits for its page to say the worker took them in.
func ratingsReachLiveRun(t *testing.T, ctx context.Context, base, runID string) {
	t.Helper()
	wait := chromedp.WithPollingTimeout(60 * time.Second)
	first, second := "#gallery .sample:nth-child(1)", "#gallery .sample:nth-child(2)"
	do(t, ctx, "wait for live run "+runID+" to pass its first snapshot",
		// The first samples come with the snapshot at step 10.
		chromedp.Poll[chromedp.Void](`+document.querySelector("#run-step")?.textContent > 10`, wait),
	)
	// The step counter can run ahead of the snapshot's samples reaching
	// the store on a loaded machine, and the gallery does not refresh
	// itself: reload it until they are there.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		do(t, ctx, "open live run "+runID+"'s gallery", chromedp.Navigate(base+"/runs/"+runID+"/samples"))
		n := get(t, ctx, "count the gallery's samples", chromedp.Evaluate[int](`document.querySelectorAll("#gallery .sample").length`))
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live run %s's gallery has %d samples a minute after its first snapshot, want 2 or more", runID, n)
		}
	}
	do(t, ctx, "rate two samples of live run "+runID,
		chromedp.Click(chromedp.CSS(first+" .like")),
		chromedp.WaitVisible(chromedp.CSS(first+".liked")),
		chromedp.Focus(chromedp.CSS(second)),
		chromedp.KeyEvent("d"),
		chromedp.WaitVisible(chromedp.CSS(second+".disliked")),
		chromedp.Navigate(base+"/runs/"+runID),
		chromedp.Poll[chromedp.Void](`document.querySelector("#run-feedback")?.textContent.includes("2 ratings in use (1 liked, 1 disliked)")`, wait),
	)
	rateSession(t, ctx, base, runID)
}

// rateSession starts a rating session from the run page and rates four of
// its samples with the keyboard alone (the first card has the focus, and
// each rating moves it on), then waits for the run page to say training
// took them in.
func rateSession(t *testing.T, ctx context.Context, base, runID string) {
	t.Helper()
	wait := chromedp.WithPollingTimeout(60 * time.Second)
	do(t, ctx, "start a rating session from live run "+runID+"'s page", chromedp.Click(chromedp.ID("rate-new")))
	waitPath(t, ctx, "go to the rating page", regexp.MustCompile(`^/runs/(\d+)/rate$`))
	do(t, ctx, "wait for the rating page to load", chromedp.Poll[chromedp.Void](`document.readyState === "complete" && document.querySelector("#rate-help")`, wait))
	n := get(t, ctx, "count the session's samples", chromedp.Evaluate[int](`document.querySelectorAll("#gallery[data-advance] .sample").length`))
	if n != 16 {
		t.Fatalf("the rating session shows %d samples, want 16", n)
	}
	rated := func(i int, class string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("#gallery .sample:nth-child(%d)").classList.contains(%q)`, i, class), wait)
	}
	focused := func(i int) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.activeElement === document.querySelector("#gallery .sample:nth-child(%d)")`, i), wait)
	}
	do(t, ctx, "rate four session samples with L and D",
		focused(1),
		chromedp.KeyEvent("l"), rated(1, "liked"), focused(2),
		chromedp.KeyEvent("d"), rated(2, "disliked"), focused(3),
		chromedp.KeyEvent("l"), rated(3, "liked"), focused(4),
		chromedp.KeyEvent("d"), rated(4, "disliked"), focused(5),
	)
	do(t, ctx, "see live run "+runID+" take the session's ratings in",
		chromedp.Navigate(base+"/runs/"+runID),
		chromedp.Poll[chromedp.Void](`document.querySelector("#run-feedback")?.textContent.includes("6 ratings in use (3 liked, 3 disliked)")`, wait),
	)
}

// generateNearLiked, on the gallery of a run with a liked sample, asks for
// samples near it.
func generateNearLiked(t *testing.T, ctx context.Context, base, runID string) {
	t.Helper()
	do(t, ctx, "generate samples near the liked one",
		chromedp.SetValue(chromedp.CSS(`#generate-form input[name=n]`), "4"),
		chromedp.Click(chromedp.ID("bias")),
		chromedp.Click(chromedp.ID("generate")),
	)
	// The form posts and the page moves on: ask the API, which does not
	// care when the navigation ends.
	var n int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var body struct {
			Samples []struct {
				Origin string `json:"origin"`
			} `json:"samples"`
		}
		getJSON(t, base+"/api/runs/"+runID+"/samples", &body)
		n = 0
		for _, s := range body.Samples {
			if s.Origin == "generate" {
				n++
			}
		}
		if n >= 4 {
			break
		}
	}
	if n != 4 {
		t.Errorf("run %s has %d generated samples after asking for 4 near the liked one", runID, n)
	}
	waitPath(t, ctx, "the gallery at the new samples' step", regexp.MustCompile(`^/runs/(\d+)/samples\?step=\d+$`))
	// Back on the whole gallery, loaded, for what comes next.
	do(t, ctx, "reopen the gallery",
		chromedp.Navigate(base+"/runs/"+runID+"/samples"),
		chromedp.WaitVisible(chromedp.CSS("#gallery .sample")),
	)
}

// keysAndInterpolation, on the gallery: the keyboard dislikes the focused
// card, and two selected samples give an interpolation strip that loads.
func keysAndInterpolation(t *testing.T, ctx context.Context) {
	t.Helper()
	wait := chromedp.WithPollingTimeout(30 * time.Second)
	second, third := "#gallery .sample:nth-child(2)", "#gallery .sample:nth-child(3)"
	do(t, ctx, "dislike the second sample with the D key",
		chromedp.Focus(chromedp.CSS(second)),
		chromedp.KeyEvent("d"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#gallery .sample:nth-child(2)").classList.contains("disliked")`, wait),
	)
	// With no card focused, L goes to the first card: the first sample,
	// liked before, is unliked, and a second L (the card now focused)
	// likes it again.
	first := `document.querySelector("#gallery .sample:nth-child(1)")`
	get(t, ctx, "leave no card focused", chromedp.Evaluate[bool](`(document.activeElement?.blur(), true)`))
	do(t, ctx, "press L with no card focused",
		chromedp.KeyEvent("l"),
		chromedp.Poll[chromedp.Void](`!`+first+`.classList.contains("liked")`, wait),
		chromedp.KeyEvent("l"),
		chromedp.Poll[chromedp.Void](first+`.classList.contains("liked")`, wait),
		// The rating buttons are the studio's icons, not emoji characters.
		chromedp.Poll[chromedp.Void](first+`.querySelector(".like svg.icon") && !/\p{Extended_Pictographic}/u.test(`+first+`.querySelector(".sample-bar").textContent)`, wait),
	)
	do(t, ctx, "interpolate between two selected samples",
		chromedp.Click(chromedp.CSS(second+" input[name=ids]")),
		chromedp.Click(chromedp.CSS(third+" input[name=ids]")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#selected-count").textContent === "2 selected"`, wait),
		chromedp.Click(chromedp.ID("interpolate")),
		// 10 frames of 32 px with the grid's 2 px gutters.
		chromedp.Poll[chromedp.Void](`document.querySelector("#interpolation img")?.naturalWidth === 10*34+2`, wait),
	)
}

// apiRating reads a sample's rating through the JSON API.
func apiRating(t *testing.T, base, runID, sampleID string) int {
	t.Helper()
	var body struct {
		Samples []struct {
			ID     int64  `json:"id"`
			Step   int    `json:"step"`
			Origin string `json:"origin"`
			Rating int    `json:"rating"`
			URL    string `json:"url"`
		} `json:"samples"`
		Total int `json:"total"`
	}
	getJSON(t, base+"/api/runs/"+runID+"/samples", &body)
	for _, s := range body.Samples {
		if fmt.Sprint(s.ID) == sampleID {
			return s.Rating
		}
	}
	t.Fatalf("the API lists %d of %d samples of run %s, not sample %s", len(body.Samples), body.Total, runID, sampleID)
	return 0
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	b := httpGet(t, url)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %q", url, err, b)
	}
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b
}

// allowDownloads saves the tab's downloads into dir, each named by its
// GUID, and turns on the download events that say when one is complete.
func allowDownloads(t *testing.T, ctx context.Context, dir string) {
	t.Helper()
	_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName,
		DownloadPath:  dir,
		EventsEnabled: new(true),
	})
	if err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
}

// download runs the steps that start a download of a URL matching want and
// returns the file's bytes once the browser says it is complete.
func download(t *testing.T, ctx context.Context, dir string, want *regexp.Regexp, steps ...chromedp.Action[chromedp.Void]) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Subscribe before the click, so no event is missed.
	begins := chromedp.Events(ctx, browser.DownloadWillBegin)
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	do(t, ctx, "start downloading "+want.String(), steps...)
	var guid string
	for ev, err := range begins {
		if err != nil {
			t.Fatalf("no download of %s began: %v", want, err)
		}
		if want.MatchString(requestURI(ev.URL)) {
			guid = ev.GUID
			break
		}
		t.Logf("ignoring a download of %s", ev.URL)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download of %s did not complete: %v", want, err)
		}
		if ev.GUID != guid {
			continue
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, guid))
			if err != nil {
				t.Fatalf("download of %s: %v", want, err)
			}
			return b
		case browser.DownloadProgressStateCanceled:
			t.Fatalf("the browser cancelled the download of %s", want)
		}
	}
	panic("unreachable: the events end with the context's error")
}

// checkPNGDownload downloads a sample's PNG from its card's menu and checks
// it is the 32×32 image the server stores.
func checkPNGDownload(t *testing.T, ctx context.Context, base, dir, sampleID string) {
	t.Helper()
	card := "#sample-" + sampleID
	got := download(t, ctx, dir, regexp.MustCompile(`^/samples/`+sampleID+`\.png\?download=1$`),
		// The links sit in a closed <details>; open it as a user would.
		chromedp.Click(chromedp.CSS(card+" details.dl summary")),
		chromedp.Click(chromedp.CSS(card+" a.dl-png")),
	)
	img, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("the downloaded sample is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("the downloaded sample is %d×%d, want 32×32", b.Dx(), b.Dy())
	}
	if want := httpGet(t, base+"/samples/"+sampleID+".png"); !bytes.Equal(got, want) {
		t.Errorf("the downloaded sample (%d bytes) differs from GET /samples/%s.png (%d bytes)", len(got), sampleID, len(want))
	}
}

// checkLikedZip downloads the run's liked samples from the run page and
// checks the zip holds exactly the liked sample and a manifest for it.
func checkLikedZip(t *testing.T, ctx context.Context, base, dir, runID, sampleID string) {
	t.Helper()
	got := download(t, ctx, dir, regexp.MustCompile(`^/runs/`+runID+`/samples\.zip\?rating=1$`),
		chromedp.Navigate(base+"/runs/"+runID),
		chromedp.Click(chromedp.ID("zip-liked")),
	)
	zr, err := zip.NewReader(bytes.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatalf("the liked samples' download is not a zip: %v", err)
	}
	var pngs, names []string
	var manifest struct {
		Run     int64 `json:"run"`
		Samples []struct {
			File   string    `json:"file"`
			Sample int64     `json:"sample"`
			Rating int       `json:"rating"`
			Latent []float32 `json:"latent"`
		} `json:"samples"`
	}
	for _, f := range zr.File {
		names = append(names, f.Name)
		switch {
		case strings.HasSuffix(f.Name, ".png"):
			pngs = append(pngs, f.Name)
			checkZipPNG(t, f)
		case f.Name == "manifest.json":
			if err := json.Unmarshal(readZipFile(t, f), &manifest); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
		}
	}
	if len(pngs) != 1 || len(names) != 2 {
		t.Fatalf("the liked zip holds %q, want one PNG and manifest.json", names)
	}
	if !strings.HasSuffix(pngs[0], "-sample"+sampleID+".png") {
		t.Errorf("the liked zip's PNG is %s, not sample %s", pngs[0], sampleID)
	}
	if len(manifest.Samples) != 1 {
		t.Fatalf("manifest.json lists %d samples, want 1", len(manifest.Samples))
	}
	m := manifest.Samples[0]
	if fmt.Sprint(m.Sample) != sampleID || m.Rating != 1 || m.File != pngs[0] || len(m.Latent) == 0 {
		t.Errorf("manifest.json has sample %d, rating %d, file %s and a latent of %d numbers; want sample %s, rating 1, file %s and a latent",
			m.Sample, m.Rating, m.File, len(m.Latent), sampleID, pngs[0])
	}
	if fmt.Sprint(manifest.Run) != runID {
		t.Errorf("manifest.json is for run %d, want %s", manifest.Run, runID)
	}
}

func checkZipPNG(t *testing.T, f *zip.File) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(readZipFile(t, f)))
	if err != nil {
		t.Fatalf("%s in the zip: %v", f.Name, err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("%s in the zip is %d×%d, want 32×32", f.Name, b.Dx(), b.Dy())
	}
}

func readZipFile(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s in the zip: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s in the zip: %v", f.Name, err)
	}
	return b
}
