package swarm

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// The Swarm fleet is the backend "swarm": one service per instance on the
// swarm whose manager is $OSUPGRADE_SWARM_HOST (`osupgrade swarm up`
// starts a local one), on a scaled wall clock.
func init() {
	backend.Register("swarm", backend.Factory{
		Clock: backend.WallClock,
		Open: func(ctx context.Context, c backend.Config) (backend.Fleet, error) {
			return New(ctx, Options{RunID: c.RunID, Clock: c.Clock, TimeScale: c.TimeScale, Seed: c.Seed, Concurrency: c.Concurrency, Progress: c.Progress})
		},
		Available: func(ctx context.Context) error {
			host := os.Getenv(HostEnv)
			if host == "" {
				return fmt.Errorf("%w: %s is not set (start a local swarm with `osupgrade swarm up` and export what it prints)", ErrEngineUnavailable, HostEnv)
			}
			cli, err := connect(ctx, host)
			if err != nil {
				return err
			}
			return cli.Close()
		},
		// Task starts are the nodes' container starts: the same CPU bound.
		ReimageConcurrency: docker.ReimageConcurrency,
		// The manager's task states arrive after the orchestrator's
		// decisions, later than one engine's events.
		JournalSlack: 30 * time.Second,
		// Network faults need the agent to apply them in its own namespace
		// (a task's veth peer is inside its node's namespace): not yet.
		KernelNetwork: false,
		MaxInstances:  60,
	})
}

var (
	_ backend.Fleet   = (*Fleet)(nil)
	_ backend.Watcher = (*Fleet)(nil)
	_ backend.Cleaner = (*Fleet)(nil)
)
