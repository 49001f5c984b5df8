package sim

import (
	"context"

	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// The simulated fleet is the backend "sim": a virtual clock, every state
// change at a time it knows (NextEvent), recorded as it happens.
func init() {
	backend.Register("sim", backend.Factory{
		Clock: backend.VirtualClock,
		Open: func(_ context.Context, c backend.Config) (backend.Fleet, error) {
			return New(c.Clock, c.Seed), nil
		},
	})
}

var (
	_ backend.Fleet        = (*Fleet)(nil)
	_ backend.ChangeFeed   = (*Fleet)(nil)
	_ backend.Scheduled    = (*Fleet)(nil)
	_ backend.Recorder     = (*Fleet)(nil)
	_ backend.SetLister    = (*Fleet)(nil)
	_ backend.DataResetBug = (*Fleet)(nil)
)

// Record feeds j from the fleet's events (OnEvent): a reimage and every
// change of what an instance reports. j is called with the fleet's lock
// held.
func (f *Fleet) Record(j backend.Journal) {
	f.OnEvent(func(e Event) {
		switch e.Kind {
		case EventReimage:
			j.Reimaged(e.Time, e.Set, e.ID, e.Version)
		case EventState:
			j.Reported(e.Time, e.Set, e.State)
		}
	})
}

// Close does nothing: the simulated fleet is the object itself.
func (f *Fleet) Close() error { return nil }
