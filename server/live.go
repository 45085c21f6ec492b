package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/store"
)

// livePoll is how often the live stream looks at the run. It reads the
// database, so it sees workers in other processes too.
var livePoll = time.Second

// runLive streams a run's progress as server-sent events: "progress" on
// every change of step or state, "snapshot" when a new grid is kept. It
// ends after the run reaches a final state or pauses, or when the server
// shuts down (the request's context ends).
func (s *Server) runLive(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	lastStep, lastState, lastSnap := -1, "", -2
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	for {
		if r, err = s.st.Run(ctx, r.ID); err != nil {
			return nil
		}
		if r.Step != lastStep || r.State != lastState {
			eta := ""
			if d := r.ETA(); d > 0 {
				eta = d.String()
			}
			err := send("progress", map[string]any{"step": r.Step, "steps": r.Steps, "state": r.State,
				"eta": eta, "rate": r.Rate})
			if err != nil {
				return nil
			}
			lastStep, lastState = r.Step, r.State
		}
		snaps, err := s.st.Snapshots(ctx, r.ID)
		if err == nil && len(snaps) > 0 && snaps[len(snaps)-1].Step != lastSnap {
			if lastSnap != -2 {
				send("snapshot", map[string]any{"step": snaps[len(snaps)-1].Step})
			}
			lastSnap = snaps[len(snaps)-1].Step
		}
		// A paused run changes only when someone presses Resume, which
		// reloads the page; ending here frees the connection (browsers
		// allow six per host).
		if r.Terminal() || r.State == store.Paused {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
