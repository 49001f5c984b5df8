package fleettest_test

import (
	"context"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/internal/clock"
)

// The simulated fleet on a virtual clock. Its state is the object itself,
// so re-creating it is handing back the same object.
func TestSimContract(t *testing.T) {
	fleettest.Run(t, func(t *testing.T) *fleettest.World {
		c := clock.NewVirtual(clock.Epoch)
		f := sim.New(c, 1)
		return &fleettest.World{
			Fleet:  f,
			Now:    c.Now,
			Wait:   func(_ context.Context, d time.Duration) { c.Advance(d) },
			Reopen: func(context.Context) (fleettest.Fleet, error) { return f, nil },
		}
	})
}
