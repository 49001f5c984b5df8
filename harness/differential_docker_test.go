package harness_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/clock"
)

// The differential check on the real thing: short shipped scenarios, one
// with the R-CRED-1 manual upgrade at the end of its timeline, run on the
// simulator and on containers end with the same instances in the same
// state after the same reimage batches. Skips without an engine (fails with
// OSUPGRADE_REQUIRE_DOCKER=1 or CI=true).
func TestFleetsAgreeOnShippedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("containers: minutes of wall time; skipped with -short")
	}
	ctx := context.Background()
	cli, err := docker.Connect(ctx)
	if err != nil {
		fleettest.SkipWithoutEngine(t, err)
	}
	cli.Close()
	for _, name := range []string{"health-none-manual", "expired-sas-recovery", "basic-rollout-10"} {
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Load(filepath.Join("..", "scenarios", name+".yaml"), harness.Vocabulary())
			if err != nil {
				t.Fatal(err)
			}
			if err := harness.FitsBothFleets(sc); err != nil {
				t.Fatalf("a shipped scenario chosen to fit both fleets does not: %v", err)
			}
			sim := harness.Options{Fleet: "sim"}
			containers := harness.Options{Fleet: "docker", Docker: dockerFleet, TimeScale: 20, Wall: time.Now}
			a, b, err := harness.Compare(ctx, sc, sim, containers)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: sim scenario %s; docker scenario %s, wall %s", name, a.ScenarioDuration, b.ScenarioDuration, b.WallDuration)
			for _, m := range b.Mismatches {
				t.Errorf("sim and docker differ: %s", m)
			}
			for _, r := range []*harness.Result{a, b} {
				for _, p := range r.Problems {
					t.Logf("%s problem: %s", r.Fleet, p)
				}
				if r.Error != "" {
					t.Errorf("%s: %s", r.Fleet, r.Error)
				}
				for _, e := range r.Expectations {
					if !e.OK {
						t.Errorf("%s: %s %s expected %s, got %s", r.Fleet, e.ScaleSet, e.Field, e.Expected, e.Got)
					}
				}
				for _, inv := range r.Invariants {
					switch {
					case inv.OK:
					case inv.ID == "I-7":
						// What the run did not create comes and goes on an
						// engine others use too (other tests prune images).
						t.Logf("%s: %s (not judged here): %s", r.Fleet, inv.ID, inv.Detail)
					default:
						t.Errorf("%s: invariant %s violated: %s", r.Fleet, inv.ID, inv.Detail)
					}
				}
			}
		})
	}
}

// dockerFleet builds one run's containers, labelled after the scenario and
// a random suffix, and removes them when the run ends.
func dockerFleet(ctx context.Context, name string, clk *clock.Scaled, progress io.Writer) (harness.Backend, func(context.Context) error, error) {
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return nil, nil, err
	}
	opts, err := docker.ForTest(ctx, docker.Options{RunID: "d-" + name + "-" + hex.EncodeToString(suffix), Clock: clk, TimeScale: clk.Scale(), Progress: progress})
	if err != nil {
		return nil, nil, err
	}
	f, err := docker.New(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return f, func(ctx context.Context) error { return errors.Join(f.Clean(ctx), f.Close()) }, nil
}
