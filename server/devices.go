package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/web"
)

// liveDevices lists the devices besides the CPU that live workers train on
// (heard from within the time after which the reaper counts one as gone):
// what a new run may ask for.
func (s *Server) liveDevices(ctx context.Context) ([]string, error) {
	return s.st.WorkerDevices(ctx, time.Now().Add(-s.q.StaleAfter()))
}

// noWorkerFor says why a run cannot be for device now, and what to start.
func noWorkerFor(device string) string {
	const start = "`ganstudio-cuda worker --data <folder>` on the machine with the GPU, with this studio's data folder"
	if device == "cuda" {
		return "no GPU (cuda) worker is running: start one with " + start + "; or train on the CPU"
	}
	return fmt.Sprintf("no worker for device %q is running: runs train on cpu, or on cuda once a GPU worker runs (start one with %s)", device, start)
}

// formDevices is what the new-run form offers besides the CPU: the live
// workers' devices, and a device the user chose whose worker has gone
// since (so its message shows beside the field).
func (s *Server) formDevices(ctx context.Context, f web.RunForm, errs fieldErrors) ([]string, error) {
	live, err := s.liveDevices(ctx)
	if err != nil {
		return nil, err
	}
	if d := f["device"]; errs["device"] != "" && d != "" && d != spec.CPU && !slices.Contains(live, d) {
		live = append(live, d)
	}
	return live, nil
}
