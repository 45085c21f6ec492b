package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/internal/wait"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
)

// killHelper is set in the environment of a test binary run as a studio
// that the test then kills.
const killHelper = "GANSTUDIO_TEST_KILL_HELPER"

// TestKillHelperServe is not a test: run by TestKilledUploadSweptAtStart as
// another process, it serves a studio until it is killed.
func TestKillHelperServe(t *testing.T) {
	dir := os.Getenv(killHelper)
	if dir == "" {
		t.Skip("only run as a helper process")
	}
	ctx := context.Background()
	st, err := store.OpenConfig(ctx, testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(ctx, st, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "addr"), []byte(ln.Addr().String()), 0o644)
	http.Serve(ln, New(st, q, DefaultOptions()))
}

// TestKilledUploadSweptAtStart kills (SIGKILL) a studio while a zip is
// being uploaded to it: the upload's temporary file is in the data folder,
// not the system's temp folder, and the next start removes it.
func TestKilledUploadSweptAtStart(t *testing.T) {
	dir, sysTmp := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelperServe$")
	cmd.Env = append(os.Environ(), killHelper+"="+dir, "TMPDIR="+sysTmp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(what string, ok func() bool) { t.Helper(); wait.Until(t, time.Minute, what, ok) }
	var addr []byte
	waitFor("the studio to listen", func() bool { addr, _ = os.ReadFile(filepath.Join(dir, "addr")); return len(addr) > 0 })

	// A zip sent slowly: its first megabyte, then nothing until the kill.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, _ := mw.CreateFormFile("files", "icons.zip")
		part.Write([]byte("PK\x03\x04"))
		part.Write(make([]byte, 1<<20))
	}()
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/datasets", addr), pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	tmp := filepath.Join(dir, "tmp")
	waitFor("the upload's temporary file", func() bool {
		ents, _ := os.ReadDir(tmp)
		if len(ents) != 1 {
			return false
		}
		info, err := ents[0].Info()
		return err == nil && info.Size() >= 1<<20
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	pw.Close()
	if ents, _ := os.ReadDir(sysTmp); len(ents) != 0 {
		t.Errorf("the killed studio left %s in the system's temp folder", ents[0].Name())
	}

	st, err := store.OpenConfig(context.Background(), testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 0 || st.Swept.TempFiles != 1 || st.Swept.TempBytes < 1<<20 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("after the restart: left %s; swept %d files of %d bytes; want none left, 1 of 1 MiB swept",
			strings.Join(names, ", "), st.Swept.TempFiles, st.Swept.TempBytes)
	}
}

// TestUploadsWaitTheirTurn: past MaxImports, an upload waits ImportWait
// for a turn and is then answered 503 with Retry-After, nothing saved;
// once the turn is free, uploads go through again.
func TestUploadsWaitTheirTurn(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxImports, opts.ImportWait = 1, 200*time.Millisecond
	s := newStudio(t, false, opts)
	red := pngBytes(color.NRGBA{200, 0, 0, 255}, 8, 8)

	// The first upload holds the one turn while its zip arrives slowly.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, _ := mw.CreateFormFile("files", "icons.zip")
		part.Write(zipOf(map[string][]byte{"a.png": red})[:10])
	}()
	req, _ := http.NewRequest("POST", s.srv.URL+"/api/datasets", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	first := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	wait.Until(t, time.Minute, "the first upload to start", func() bool {
		ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
		return len(ents) == 1
	})

	var b bytes.Buffer
	mw2 := multipart.NewWriter(&b)
	w, _ := mw2.CreateFormFile("files", "b.png")
	w.Write(red)
	mw2.Close()
	resp, err := http.Post(s.srv.URL+"/api/datasets", mw2.FormDataContentType(), bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var a apiError
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(a.Error, "the studio is preparing 1 other upload;") {
		t.Errorf("an upload past the limit: %d, Retry-After %q, %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), a.Error)
	}

	pw.CloseWithError(errors.New("client gave up"))
	<-first
	if code := s.upload("", map[string][]byte{"b.png": red}, nil); code != http.StatusCreated {
		t.Errorf("an upload once the turn is free: %d, want 201", code)
	}
	if list, _ := s.st.Datasets(context.Background()); len(list) != 2 {
		t.Errorf("%d datasets, want the built-in one and the last upload", len(list))
	}
}

// TestUploadTurnWithoutWait: with no wait allowed, a free turn is still
// taken (a 503 only when every turn is busy).
func TestUploadTurnWithoutWait(t *testing.T) {
	opts := DefaultOptions()
	opts.ImportWait = 0
	s := newStudio(t, false, opts)
	red := pngBytes(color.NRGBA{200, 0, 0, 255}, 8, 8)
	for i := range 20 {
		if code := s.upload("", map[string][]byte{"a.png": red}, nil); code != http.StatusCreated {
			t.Fatalf("upload %d with every turn free: %d, want 201", i, code)
		}
	}
}
