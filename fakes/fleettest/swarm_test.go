package fleettest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/fakes/swarm"
	"github.com/osupgrade/osupgrade/internal/clock"
)

// The Swarm fleet on the swarm whose manager is $OSUPGRADE_SWARM_HOST
// (`osupgrade swarm up` prints it), at the Docker contract's time scale;
// re-creating the fleet object reattaches to the run's services.
func TestSwarmContract(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Swarm contract run in -short mode")
	}
	host := os.Getenv(swarm.HostEnv)
	if host == "" {
		t.Skipf("skipping: %s is not set (start a local swarm with `make swarm-up` and export what it prints)", swarm.HostEnv)
	}
	fleettest.Run(t, func(t *testing.T) *fleettest.World {
		ctx := context.Background()
		clk := clock.NewScaled(clock.Epoch, dockerScale)
		f, err := swarm.New(ctx, swarm.Options{Host: host, Clock: clk, Seed: 1, Concurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		cur := f
		t.Cleanup(func() {
			if err := cur.Clean(context.Background()); err != nil {
				t.Errorf("clean: %v", err)
			}
			cur.Close()
		})
		w := &fleettest.World{
			Fleet: f,
			Now:   clk.Now,
			Wait: func(ctx context.Context, d time.Duration) {
				select {
				case <-clk.After(d):
				case <-ctx.Done():
				}
			},
		}
		w.Reopen = func(ctx context.Context) (fleettest.Fleet, error) {
			if err := cur.Close(); err != nil {
				return nil, err
			}
			nf, err := swarm.New(ctx, swarm.Options{Host: host, RunID: cur.RunID(), Clock: clk, Seed: 1, Concurrency: 4})
			if err != nil {
				return nil, err
			}
			cur = nf
			return nf, nil
		}
		return w
	})
}
