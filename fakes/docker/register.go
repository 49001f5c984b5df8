package docker

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// The Docker fleet is the backend "docker": containers on the engine of the
// environment (DOCKER_HOST), on a scaled wall clock, watched through the
// engine's events.
func init() {
	backend.Register("docker", backend.Factory{
		Clock: backend.WallClock,
		Open: func(ctx context.Context, c backend.Config) (backend.Fleet, error) {
			opts := Options{RunID: c.RunID, Clock: c.Clock, TimeScale: c.TimeScale, Seed: c.Seed, Concurrency: c.Concurrency, Progress: c.Progress}
			if testing.Testing() {
				// A test binary's runs carry its owner, so that the run of
				// one killed by -timeout is swept by the next (ForTest).
				var err error
				if opts, err = ForTest(ctx, opts); err != nil {
					return nil, err
				}
			}
			return New(ctx, opts)
		},
		Available: func(ctx context.Context) error {
			cli, err := Connect(ctx)
			if err != nil {
				return err
			}
			return cli.Close()
		},
		ReimageConcurrency: ReimageConcurrency,
		// The engine's events arrive after the orchestrator's decisions:
		// 30 s of scenario time covers them at the usual time scales.
		JournalSlack:  30 * time.Second,
		KernelNetwork: true,
		// More would take hours on a 2-core machine.
		MaxInstances: 50,
	})
}

var (
	_ backend.Fleet         = (*Fleet)(nil)
	_ backend.Watcher       = (*Fleet)(nil)
	_ backend.Inventory     = (*Fleet)(nil)
	_ backend.ImagePreparer = (*Fleet)(nil)
	_ backend.Cleaner       = (*Fleet)(nil)
)

// ReimageConcurrency is how many reimages the orchestrator runs at once on
// the Docker fleet: one per CPU, at least 2. The engine's container starts
// are CPU-bound (on a 2-core machine 16 starts at once took as long as 16
// one after another), so more in parallel only queue in the engine and
// stretch each reimage's time to healthy, which the 5-minute wait counts:
// at 8, 200 containers' reimages took 18 s wall each (6 minutes at time
// scale 20) for the same throughput.
func ReimageConcurrency() int { return max(2, runtime.NumCPU()) }
