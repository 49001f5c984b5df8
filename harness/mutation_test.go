package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// mutationCase is a planted bug, a scenario that reaches the gate it
// breaks, and the invariant that must catch it.
type mutationCase struct {
	mut  plan.Mutations
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

var mutationCases = []mutationCase{
	{plan.MutBatch25, "I-1", `name: m-batch
scaleSets:
  - {name: web, instances: 20, updateDomains: 1, ` + mutImage + `}
` + mutPublish + `timeline:
  - {at: 0s, trigger: manual}
`},
	{plan.MutSkipPrecheck, "I-2", `name: m-precheck
scaleSets:
  - {name: web, instances: 10, ` + mutImage + `}
` + mutPublish + `timeline:
  - {at: 0s, fault: unhealthy, instances: [1, 2, 3]}
  - {at: 1m, trigger: manual}
`},
	{plan.MutIgnoreUpgradedUnhealthy, "I-2", `name: m-upgraded
scaleSets:
  - {name: web, instances: 10, ` + mutImage + `}
` + mutBad + `timeline:
  - {at: 0s, trigger: manual}
`},
	{plan.MutMixZones, "I-5", `name: m-zones
scaleSets:
  - {name: web, instances: 10, zones: ["1", "2", "3"], ` + mutImage + `}
` + mutPublish + `timeline:
  - {at: 0s, trigger: manual}
`},
	{plan.MutMixUpdateDomains, "I-5", `name: m-uds
scaleSets:
  - {name: web, instances: 12, ` + mutImage + `}
` + mutPublish + `timeline:
  - {at: 0s, trigger: manual}
`},
	{plan.MutSkipRollback, "I-3", `name: m-rollback
scaleSets:
  - {name: web, instances: 10, ` + mutImage + `}
` + mutBad + `expect: {startedBy: Platform}
`},
	{plan.MutIgnoreStopAfterBatch, "I-2", `name: m-stop-after-batch
scaleSets:
  - {name: web, instances: 10, ` + mutImage + `}
` + mutPublish + `timeline:
  - {at: 0s, trigger: manual}
  - {on: batch 1 started, fault: maintenance, instances: [2, 3, 4], duration: 1h}
`},
	{plan.MutRecreateDataVolume, "I-4", `name: m-data
scaleSets:
  - {name: web, instances: 10, ` + mutImage + `}
` + mutPublish + `timeline:
  - {at: 0s, trigger: manual}
`},
}

func runMutation(t *testing.T, src string, mut plan.Mutations) *Result {
	t.Helper()
	sc, err := scenario.Parse("mutation.yaml", []byte(src), Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), sc, Options{mutations: mut})
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
// planner's gates (and the data-volume bug of the fleet), and that the same
// scenario without the bug breaks no invariant. The mutation score is
// logged; anything below 100% fails.
func TestMutationsCaught(t *testing.T) {
	if len(mutationCases) != len(plan.AllMutations()) {
		t.Fatalf("%d mutation cases for %d mutations: every planted bug needs a case", len(mutationCases), len(plan.AllMutations()))
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
