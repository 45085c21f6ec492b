package jobs

import (
	"context"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// testHealth, when set by a test, replaces the health check's verdict: a
// real collapse cannot be made to order in a few steps.
var testHealth func(step int, h spec.HealthReport) spec.HealthReport

// newWatch sets up a run's collapse watch (gan.Watch) from its stored
// guard and snapshots, or says in the run's events why there is none: a
// dataset with no two different images to compare samples with.
func newWatch(ctx context.Context, st *store.Store, run *store.Run, ds *datasets.Dataset) (*gan.Watch, error) {
	guard := run.Guard
	guard.P = run.Config.CollapsePolicy()
	w := gan.NewWatch(ds, run.Config.Seed, guard)
	if w == nil {
		st.AddEvent(ctx, run.ID, run.Step, store.EventInfo, "The collapse monitor is off for this run: its dataset has no two different images to compare samples with.")
		return nil, nil
	}
	w.Verdict = testHealth
	sns, err := st.Snapshots(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for _, sn := range sns {
		if sn.Health.Level != "" {
			w.Last = sn.Health.Level
			w.Remember(sn.Step, sn.Health.Diversity)
		}
	}
	return w, nil
}
