package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// TestDeviceFlags: a device this build lacks stops train, bench and worker
// with a clear error before they do anything (the worker's data folder is
// never made); a worker defaults to the GPU only in a build that has one.
func TestDeviceFlags(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"train", "--device", "nosuch", "--preset", "tiny", "--steps", "1", "--out", t.TempDir()},
		{"bench", "--device", "nosuch", "--preset", "tiny", "--steps", "1"},
		{"worker", "--device", "nosuch", "--data", data},
	} {
		err := run(ctx, args)
		if err == nil || !strings.Contains(err.Error(), `--device nosuch: device "nosuch" is not in this build`) {
			t.Errorf("%s: %v, want the device refused", strings.Join(args, " "), err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a worker refused its device still made its data folder: %v", err)
	}
	if gan.DeviceName() != spec.CPU {
		t.Errorf("a refused device left the process on %q", gan.DeviceName())
	}
	want := spec.CPU
	if slices.Contains(gan.Devices(), "cuda") {
		want = "cuda"
	}
	if got := defaultWorkerDevice(); got != want {
		t.Errorf("a worker of this build (%v) defaults to %q, want %q", gan.Devices(), got, want)
	}
}

// TestBenchDeviceAndBatch: bench reports the device it measured on and
// takes a batch other than the preset's.
func TestBenchDeviceAndBatch(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = run(context.Background(), []string{"bench", "--device", spec.CPU, "--preset", "tiny", "--batch", "8", "--steps", "1", "--warmup", "0", "--json"})
	os.Stdout = stdout
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var res benchResult
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if res.Device != spec.CPU || res.Batch != 8 || res.Preset != "tiny" || len(res.StepMS) != 1 {
		t.Errorf("bench reported %+v, want tiny on cpu at batch 8, one step", res)
	}
}
