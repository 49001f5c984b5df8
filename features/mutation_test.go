package features

import (
	"io"
	"sort"
	"sync"
	"testing"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/features/steps"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/orchestrator/plan/plantedbugs"
)

// TestEveryPlantedBugFailsAFeature plants each known bug of the planner's
// gates, of its rules' arithmetic and of the fleet
// (orchestrator/plan/plantedbugs), one at a time, in each scenario's own
// planner and fleet, runs
// every scenario on the simulated fleet and requires at least one to fail:
// no gate can break without a feature noticing.
func TestEveryPlantedBugFailsAFeature(t *testing.T) {
	bugs := plantedbugs.All()
	if len(bugs) == 0 {
		t.Fatal("orchestrator/plan/plantedbugs plants no bugs: nothing to check")
	}
	caught := 0
	for _, bug := range bugs {
		t.Run(bug.String(), func(t *testing.T) {
			var mu sync.Mutex
			var failed []string
			suite := godog.TestSuite{
				Name: "planted-" + bug.String(),
				ScenarioInitializer: steps.Initializer(steps.Config{
					Fleet:   "sim",
					Harness: func(o harness.Options) harness.Options { return harness.PlantBugs(o, bug) },
					Failed: func(name string) {
						mu.Lock()
						defer mu.Unlock()
						failed = append(failed, name)
					},
				}),
				Options: &godog.Options{Format: "progress", Output: io.Discard, Paths: []string{"."}, Strict: true, Concurrency: 2},
			}
			code := suite.Run()
			if code == 0 || len(failed) == 0 {
				t.Errorf("with the bug %q planted, every feature still passes (godog exit %d)", bug, code)
				return
			}
			caught++
			sort.Strings(failed)
			t.Logf("%q fails %d scenarios, e.g. %q", bug, len(failed), failed[0])
		})
	}
	t.Logf("planted-bug score: %d of %d caught", caught, len(bugs))
}
