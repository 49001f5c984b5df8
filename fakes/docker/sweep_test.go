package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// A run whose test process is gone (killed by go test -timeout before its
// cleanup) is swept: its container, volume and network go. A run of a
// live test process and a run without the test owner label (a user's
// serve) stay.
func TestSweepDeadTestRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping Docker tests in -short mode")
	}
	ctx := context.Background()
	// The environment must not label the user's run.
	t.Setenv(docker.TestOwnerEnv, "")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// A process that has exited: its pid names no process now.
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("test:%s:%d:%d", host, child.Process.Pid, 1)
	live, err := docker.TestOwner()
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewScaled(clock.Epoch, 60)
	fleets := map[string]*docker.Fleet{}
	for _, owner := range []string{dead, live, ""} {
		f, err := docker.New(ctx, docker.Options{Clock: clk, Seed: 1, Concurrency: 4, TestOwner: owner})
		if errors.Is(err, docker.ErrEngineUnavailable) {
			fleettest.SkipWithoutEngine(t, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := f.Clean(context.Background()); err != nil {
				t.Errorf("clean: %v", err)
			}
			f.Close()
		})
		if err := f.CreateScaleSet(ctx, fleettest.Model("sweep", 1, plan.HealthNone), fleettest.V1); err != nil {
			t.Fatal(err)
		}
		fleets[owner] = f
	}
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// count is how many containers, volumes and networks run has.
	count := func(run string) (int, int, int) {
		sel := filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+run))
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: sel})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: sel})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs), len(vs.Volumes), len(ns)
	}
	for owner, f := range fleets {
		if c, v, n := count(f.RunID()); c != 1 || v != 1 || n != 1 {
			t.Fatalf("run %s (owner %q) has %d containers, %d volumes, %d networks before the sweep; want 1 each", f.RunID(), owner, c, v, n)
		}
	}
	swept, err := docker.SweepDeadTestRuns(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(swept, fleets[dead].RunID()) {
		t.Errorf("swept %v; want the dead owner's run %s among them", swept, fleets[dead].RunID())
	}
	for _, owner := range []string{live, ""} {
		if slices.Contains(swept, fleets[owner].RunID()) {
			t.Errorf("swept the run %s of owner %q", fleets[owner].RunID(), owner)
		}
	}
	if c, v, n := count(fleets[dead].RunID()); c+v+n != 0 {
		t.Errorf("the dead owner's run has %d containers, %d volumes, %d networks after the sweep; want none", c, v, n)
	}
	for _, owner := range []string{live, ""} {
		if c, v, n := count(fleets[owner].RunID()); c != 1 || v != 1 || n != 1 {
			t.Errorf("run of owner %q has %d containers, %d volumes, %d networks after the sweep; want 1 each", owner, c, v, n)
		}
	}
}
