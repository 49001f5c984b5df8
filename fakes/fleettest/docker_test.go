package fleettest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/internal/clock"
)

// dockerScale is the time scale of the Docker contract run: one scenario
// minute per wall second.
const dockerScale = 60

// The Docker fleet on a scaled clock, one run id per test; re-creating the
// fleet object reattaches to the run's containers.
func TestDockerContract(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Docker contract run in -short mode")
	}
	fleettest.Run(t, func(t *testing.T) *fleettest.World {
		ctx := context.Background()
		clk := clock.NewScaled(clock.Epoch, dockerScale)
		// Labelled with this test process, and a run a killed one left swept.
		opts, err := docker.ForTest(ctx, docker.Options{Clock: clk, Seed: 1, Concurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		f, err := docker.New(ctx, opts)
		if errors.Is(err, docker.ErrEngineUnavailable) {
			fleettest.SkipWithoutEngine(t, err)
		}
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
			nf, err := docker.New(ctx, docker.Options{RunID: cur.RunID(), Clock: clk, Seed: 1, Concurrency: 4, TestOwner: opts.TestOwner})
			if err != nil {
				return nil, err
			}
			cur = nf
			return nf, nil
		}
		return w
	})
}
