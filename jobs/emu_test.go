//go:build emu

package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// A worker whose GPU is lost mid-run (the emulator made to fail as a CUDA
// context lost to a fault does) hands the run back to the queue, where it
// waits to go on from its last checkpoint, tells Lost so the process can
// stop, and says so in the run's events; the run is not failed.
func TestEmuDeviceLostHandsRunBack(t *testing.T) {
	if err := gan.SetDevice("emu"); err != nil {
		t.Fatal(err)
	}
	defer gan.SetDevice(spec.CPU)
	st := openStore(t)
	q := startQueueOn(t, st, "emu")
	defer q.Stop(context.Background())
	r := newRunOn(t, st, q, "emu", 1_000_000)
	waitRun(t, st, r.ID, "a checkpoint", func(x *store.Run) bool { return x.CkptStep >= 10 && x.Step > x.CkptStep })
	if err := gan.BreakEmulator(errors.New("IllegalAddress")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-q.Lost():
		if !errors.Is(err, gan.ErrDeviceLost) {
			t.Errorf("Lost gave %v, not a lost device", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker never said its device was lost")
	}
	got := waitRun(t, st, r.ID, "the run back in the queue", func(x *store.Run) bool { return x.State == store.Queued })
	if got.Error != "" {
		t.Errorf("the run carries an error: %s", got.Error)
	}
	evs, _ := st.Events(context.Background(), r.ID, 10)
	var text strings.Builder
	for _, e := range evs {
		text.WriteString(e.Message + "\n")
	}
	if !strings.Contains(text.String(), "lost its GPU") || !strings.Contains(text.String(), "back in the queue") {
		t.Errorf("events do not tell of the lost GPU:\n%s", text.String())
	}
}
