package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator/plan/plantedbugs"
)

// mutationCase is a planted bug, a scenario that reaches the gate it
// breaks, and the invariant that must catch it.
type mutationCase struct {
	mut  plantedbugs.Bug
	want string // invariant id
	yaml string
}

const mutImage = `image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"`
const mutPublish = `images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
`
const mutBad = `images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s, bad: never-healthy}
`

// mutScenario is a scenario of one scale set "web" on version 1.0.0: set
// holds its other fields, images the images section, timeline the rest.
func mutScenario(name, set, images, timeline string) string {
	return "name: " + name + "\nscaleSets:\n  - {name: web, " + set + ", " + mutImage + "}\n" + images + timeline
}

// mutManual starts the rollout by hand at once; mutFaultThenManual puts a
// fault on instances 1-3 first and starts it a minute later.
const mutManual = `timeline:
  - {at: 0s, trigger: manual}
`

func mutFaultThenManual(fault string) string {
	return "timeline:\n  - {at: 0s, fault: " + fault + ", instances: [1, 2, 3]}\n  - {at: 1m, trigger: manual}\n"
}

var mutationCases = []mutationCase{
	{plantedbugs.Batch25, "I-1", mutScenario("m-batch", "instances: 20, updateDomains: 1", mutPublish, mutManual)},
	{plantedbugs.SkipPrecheck, "I-2", mutScenario("m-precheck", "instances: 10", mutPublish, mutFaultThenManual("unhealthy"))},
	{plantedbugs.IgnoreUpgradedUnhealthy, "I-2", mutScenario("m-upgraded", "instances: 10", mutBad, mutManual)},
	{plantedbugs.MixZones, "I-5", mutScenario("m-zones", `instances: 10, zones: ["1", "2", "3"]`, mutPublish, mutManual)},
	{plantedbugs.MixUpdateDomains, "I-5", mutScenario("m-uds", "instances: 12", mutPublish, mutManual)},
	{plantedbugs.SkipRollback, "I-3", mutScenario("m-rollback", "instances: 10", mutBad, "expect: {startedBy: Platform}\n")},
	{plantedbugs.IgnoreStopAfterBatch, "I-2", mutScenario("m-stop-after-batch", "instances: 10", mutPublish, mutManual+`  - {on: batch 1 started, fault: maintenance, instances: [2, 3, 4], duration: 1h}
`)},
	{plantedbugs.RecreateDataVolume, "I-4", mutScenario("m-data", "instances: 10", mutPublish, mutManual)},
	// The rules' arithmetic, off by one at each kind of 20% boundary: where
	// 20% of the set is whole (20 instances: 4) and where it rounds (12:
	// 2.4). One update domain, so that only R-BATCH-1 bounds a batch.
	{plantedbugs.BatchOneMoreWhole, "I-1", mutScenario("m-batch-whole", "instances: 20, updateDomains: 1", mutPublish, mutManual)},
	{plantedbugs.BatchRoundsUp, "I-1", mutScenario("m-batch-rounds", "instances: 12, updateDomains: 1", mutPublish, mutManual)},
	// 3 of 10 unhealthy is one over a whole limit (2); 3 of 11 one over a
	// limit that rounds (2.2).
	{plantedbugs.ExceedsOneOverWhole, "I-2", mutScenario("m-exceeds-whole", "instances: 10", mutPublish, mutFaultThenManual("unhealthy"))},
	{plantedbugs.ExceedsRoundsUp, "I-2", mutScenario("m-exceeds-rounds", "instances: 11", mutPublish, mutFaultThenManual("unhealthy"))},
	// Hung instances still run; the health extension cannot be read:
	// Unknown, which counts as unhealthy.
	{plantedbugs.UnknownNotUnhealthy, "I-2", mutScenario("m-unknown", "instances: 10", mutPublish, mutFaultThenManual("pause"))},
	// Two zonal sets of one region take a platform version together, at
	// publication (after the one-time delay): b, with one instance per
	// zone, reaches zone 2 while a still upgrades zone 1, and the fleet
	// schedule holds it back (R-AVAIL-1 across a region).
	{plantedbugs.RegionZonesTogether, "I-5", mutRegionZones},
}

const mutRegionZones = `name: m-region-zones
scaleSets:
  - {name: a, instances: 6, zones: ["1", "2", "3"], updateDomains: 1, ` + mutImage + `}
  - {name: b, instances: 3, zones: ["1", "2", "3"], updateDomains: 1, ` + mutImage + `}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 4h}
expect: {startedBy: Platform}
`

func runMutation(t *testing.T, src string, mut plantedbugs.Bug) *Result {
	t.Helper()
	sc, err := scenario.Parse("mutation.yaml", []byte(src), Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), sc, Options{bugs: mut})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func invariant(r *Result, id string) Invariant {
	for _, inv := range r.Invariants {
		if inv.ID == id {
			return inv
		}
	}
	return Invariant{ID: id, Detail: "missing"}
}

// TestMutationsCaught proves the checker flags every planted bug of the
// planner's gates and of the rules' arithmetic (BatchSize, Exceeds,
// CountsUnhealthy, which the checker does not use), and the data-volume bug
// of the fleet, and that the same
// scenario without the bug breaks no invariant. The mutation score is
// logged; anything below 100% fails.
func TestMutationsCaught(t *testing.T) {
	if len(mutationCases) != len(plantedbugs.All()) {
		t.Fatalf("%d mutation cases for %d mutations: every planted bug needs a case", len(mutationCases), len(plantedbugs.All()))
	}
	caught := 0
	var missed []string
	for _, c := range mutationCases {
		t.Run(c.mut.String(), func(t *testing.T) {
			clean := runMutation(t, c.yaml, 0)
			for _, inv := range clean.Invariants {
				if !inv.OK {
					t.Fatalf("without the bug %s fails: %s", inv.ID, inv.Detail)
				}
			}
			bad := runMutation(t, c.yaml, c.mut)
			inv := invariant(bad, c.want)
			if inv.OK {
				missed = append(missed, c.mut.String())
				t.Fatalf("planted bug %s not caught by %s (%s)", c.mut, c.want, inv.Detail)
			}
			if bad.OK {
				t.Fatalf("planted bug %s: the result is still OK", c.mut)
			}
			caught++
			t.Logf("%s caught by %s: %s", c.mut, c.want, inv.Detail)
		})
	}
	t.Logf("mutation score: %d/%d (%.0f%%) caught%s", caught, len(mutationCases), 100*float64(caught)/float64(len(mutationCases)), func() string {
		if len(missed) == 0 {
			return ""
		}
		return fmt.Sprintf("; missed: %s", strings.Join(missed, ", "))
	}())
}
