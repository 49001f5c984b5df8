package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
	"github.com/osupgrade/osupgrade/orchestrator/plan/plantedbugs"
)

func TestCompareFinal(t *testing.T) {
	base := func() []FinalSet {
		return []FinalSet{{
			Name: "web",
			Instances: []FinalInstance{
				{ID: 0, Version: "2.0.0", Health: "Healthy", ProvisioningState: "Succeeded", DataIntact: true},
				{ID: 1, Version: "1.0.0", Health: "Healthy", ProvisioningState: "Succeeded", RolledBack: true, DataIntact: true},
			},
			Batches: []FleetBatch{{Kind: BatchUpgrade, Version: "2.0.0", Instances: []int{0, 1}}, {Kind: BatchRollback, Version: "1.0.0", Instances: []int{1}}},
		}}
	}
	cases := []struct {
		name   string
		change func(b []FinalSet) []FinalSet
		want   []string // substrings, one per difference; none: identical
	}{
		{"identical", func(b []FinalSet) []FinalSet { return b }, nil},
		{"version", func(b []FinalSet) []FinalSet { b[0].Instances[0].Version = "1.0.0"; return b }, []string{"web instance 0: version 2.0.0 on sim, 1.0.0 on docker"}},
		{"health", func(b []FinalSet) []FinalSet { b[0].Instances[1].Health = "Unknown"; return b }, []string{"web instance 1: health Healthy on sim, Unknown on docker"}},
		{"provisioning and health at once", func(b []FinalSet) []FinalSet {
			b[0].Instances[1].ProvisioningState, b[0].Instances[1].Health = "Updating", "Unknown"
			return b
		}, []string{"web instance 1: health Healthy on sim, Unknown on docker; provisioningState Succeeded on sim, Updating on docker"}},
		{"rolled back", func(b []FinalSet) []FinalSet { b[0].Instances[1].RolledBack = false; return b }, []string{"web instance 1: rolledBack true on sim, false on docker"}},
		{"data", func(b []FinalSet) []FinalSet { b[0].Instances[0].DataIntact = false; return b }, []string{"web instance 0: dataIntact true on sim, false on docker"}},
		{"batch membership", func(b []FinalSet) []FinalSet { b[0].Batches[1].Instances = []int{0}; return b }, []string{"web reimage batch 2: rollback [1] to 1.0.0 on sim, rollback [0] to 1.0.0 on docker"}},
		{"batch version", func(b []FinalSet) []FinalSet { b[0].Batches[0].Version = "3.0.0"; return b }, []string{"web reimage batch 1: upgrade [0 1] to 2.0.0 on sim, upgrade [0 1] to 3.0.0 on docker"}},
		{"batch kind", func(b []FinalSet) []FinalSet { b[0].Batches[1].Kind = BatchSameVersion; return b }, []string{"web reimage batch 2: rollback [1] to 1.0.0 on sim, same-version [1] to 1.0.0 on docker"}},
		{"one batch more", func(b []FinalSet) []FinalSet {
			b[0].Batches = append(b[0].Batches, FleetBatch{Kind: BatchUpgrade, Version: "2.0.0", Instances: []int{1}})
			return b
		}, []string{"web: 2 reimage batches on sim (upgrade [0 1]→2.0.0 rollback [1]→1.0.0), 3 on docker"}},
		{"one instance fewer", func(b []FinalSet) []FinalSet { b[0].Instances = b[0].Instances[:1]; return b }, []string{"web: 2 instances (0 omitted) on sim, 1 (0 omitted) on docker"}},
		{"a set missing", func(b []FinalSet) []FinalSet { return nil }, []string{"scale set web: on sim, not on docker"}},
		{"a set more", func(b []FinalSet) []FinalSet { return append(b, FinalSet{Name: "api"}) }, []string{"scale set api: on docker, not on sim"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CompareFinal("sim", base(), "docker", c.change(base()))
			if len(got) != len(c.want) {
				t.Fatalf("got %d differences %q, want %d", len(got), got, len(c.want))
			}
			for i := range got {
				if !strings.Contains(got[i], c.want[i]) {
					t.Errorf("difference %d is %q, want it to contain %q", i, got[i], c.want[i])
				}
			}
		})
	}
}

// Differences past MaxMismatches are counted, not listed.
func TestCompareFinalCapsTheList(t *testing.T) {
	var a, b FinalSet
	a.Name, b.Name = "web", "web"
	for i := range 50 {
		a.Instances = append(a.Instances, FinalInstance{ID: i, Version: "1"})
		b.Instances = append(b.Instances, FinalInstance{ID: i, Version: "2"})
	}
	got := CompareFinal("sim", []FinalSet{a}, "docker", []FinalSet{b})
	if len(got) != MaxMismatches+1 || got[MaxMismatches] != fmt.Sprintf("and %d more differences", 50-MaxMismatches) {
		t.Fatalf("got %d lines, the last %q", len(got), got[len(got)-1])
	}
}

// The differential check, sim against sim: two runs of one scenario agree;
// a bug planted in the second run's fleet (data disks replaced on reimage)
// or planner (batches cut at 25%) is a mismatch that fails the run.
func TestCompareSimWithSim(t *testing.T) {
	src := `name: compare
seed: 3
scaleSets:
  - {name: web, instances: 20, updateDomains: 1, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
  - {on: "rollout finished", fault: stop, instances: [4], duration: 10m}
  - {at: 3h, manualUpgrade: all}
expect: {status: Completed, versions: {2.0.0: 20}}
`
	sc, err := scenario.Parse("compare.yaml", []byte(src), Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		planted plantedbugs.Bug
		want    string // a substring of a mismatch; empty: none
	}{
		{"the same fleet twice", 0, ""},
		{"data disks replaced", plantedbugs.RecreateDataVolume, "dataIntact true on sim (first run), false on sim (second run)"},
		{"batches cut at 25%", plantedbugs.Batch25, "reimage batch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b, err := Compare(context.Background(), sc, Options{}, Options{bugs: c.planted})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.FinalState) != 1 || len(a.FinalState[0].Instances) != 20 || len(a.FinalState[0].Batches) != 6 {
				t.Fatalf("the first run's final state %s, want 20 instances and 6 reimage batches (5 of the rollout, the manual upgrade)", jsonText(a.FinalState))
			}
			if b.ComparedWith != "sim" {
				t.Errorf("comparedWith %q", b.ComparedWith)
			}
			joined := strings.Join(b.Mismatches, "\n")
			switch {
			case c.want == "" && (len(b.Mismatches) != 0 || !b.OK):
				t.Fatalf("mismatches %q, ok %v; want none", b.Mismatches, b.OK)
			case c.want != "" && (!strings.Contains(joined, c.want) || b.OK):
				t.Fatalf("mismatches %q, ok %v; want one containing %q, and the run failed", b.Mismatches, b.OK, c.want)
			}
		})
	}
}

// The fleet's reimages, grouped: a rollout's batch is what one step
// reimaged to a new version; its rollback is one group however many steps
// it took (on Docker each instance is rolled back when its failure is seen,
// on the sim at one instant); a manual upgrade is same-version.
func TestReimageHistory(t *testing.T) {
	l := newReimageLog(clock.NewVirtual(clock.Epoch), []scenario.ScaleSet{{Name: "web", Instances: 10}, {Name: "api", Instances: 2}})
	reimage := l.wrap(func(context.Context, Backend, string, int, plan.Image) error { return nil })
	refused := l.wrap(func(context.Context, Backend, string, int, plan.Image) error { return ErrInjected })
	step := func(set, version string, ids ...int) {
		l.decided()
		for _, id := range ids {
			_ = reimage(context.Background(), nil, set, id, plan.Image{Version: version})
		}
	}
	step("web", "2.0.0", 5, 0)
	_ = refused(context.Background(), nil, "web", 7, plan.Image{Version: "2.0.0"}) // never reached the fleet
	step("web", "1.0.0", 5)
	step("api", "2.0.0", 0)
	step("web", "1.0.0", 0)
	step("web", "1.0.0", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	step("web", "2.0.0", 0, 5)
	step("web", "2.0.0", 1, 6)
	batches, rolledBack := l.history("web", "1.0.0")
	want := `[{"kind":"upgrade","version":"2.0.0","instances":[0,5]},{"kind":"rollback","version":"1.0.0","instances":[0,5]},` +
		`{"kind":"same-version","version":"1.0.0","instances":[0,1,2,3,4,5,6,7,8,9]},` +
		`{"kind":"upgrade","version":"2.0.0","instances":[0,5]},{"kind":"upgrade","version":"2.0.0","instances":[1,6]}]`
	if got := jsonText(batches); got != want {
		t.Errorf("batches\n got %s\nwant %s", got, want)
	}
	if got := jsonText(rolledBack); got != `{"0":true,"5":true}` {
		t.Errorf("rolled back %s, want instances 0 and 5", got)
	}
	if got, _ := l.history("api", "1.0.0"); jsonText(got) != `[{"kind":"upgrade","version":"2.0.0","instances":[0]}]` {
		t.Errorf("api's batches %s", jsonText(got))
	}
}

// compare: counts forgets which instance is which, not how many end how.
func TestCompareCounts(t *testing.T) {
	sim := []FinalSet{{Name: "web",
		Instances: []FinalInstance{{ID: 0, Version: "2", Health: "Healthy"}, {ID: 1, Version: "1", Health: "Healthy"}, {ID: 2, Version: "2", Health: "Healthy"}},
		Batches:   []FleetBatch{{Kind: BatchUpgrade, Version: "2", Instances: []int{0, 2}}}}}
	for _, c := range []struct {
		name   string
		docker []FinalSet
		want   string // a substring of the only difference; empty: none
	}{
		{"another instance failed", []FinalSet{{Name: "web",
			Instances: []FinalInstance{{ID: 0, Version: "1", Health: "Healthy"}, {ID: 1, Version: "2", Health: "Healthy"}, {ID: 2, Version: "2", Health: "Healthy"}},
			Batches:   []FleetBatch{{Kind: BatchUpgrade, Version: "2", Instances: []int{1, 2}}}}}, ""},
		{"two failed", []FinalSet{{Name: "web",
			Instances: []FinalInstance{{ID: 0, Version: "1", Health: "Healthy"}, {ID: 1, Version: "1", Health: "Healthy"}, {ID: 2, Version: "2", Health: "Healthy"}},
			Batches:   []FleetBatch{{Kind: BatchUpgrade, Version: "2", Instances: []int{2}}}}}, "version"},
		{"a batch larger", []FinalSet{{Name: "web",
			Instances: sim[0].Instances,
			Batches:   []FleetBatch{{Kind: BatchUpgrade, Version: "2", Instances: []int{0, 1, 2}}}}}, "reimage batch 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CompareCounts("sim", sim, "docker", c.docker)
			switch {
			case c.want == "" && len(got) != 0:
				t.Fatalf("differences %q, want none", got)
			case c.want != "" && (len(got) == 0 || !strings.Contains(got[0], c.want)):
				t.Fatalf("differences %q, want one naming %q", got, c.want)
			}
			if identity := CompareFinal("sim", sim, "docker", c.docker); len(identity) == 0 {
				t.Fatalf("instance by instance the fleets agree: the case tests nothing")
			}
		})
	}
}

// The reimages between two journaled decisions are one batch. One step
// can make two decisions for a set (on the real clock a single-instance
// batch can be healthy by the step's next pass): Docker's [1 4] differed
// from the sim's [1], [4] when the log grouped by step. And a restart in
// the middle of a decision's parallel reimages leaves it one batch: the
// restarted orchestrator finishes the journaled decision, in a new step,
// without a new entry (Docker's [3], [8] against the sim's [3 8]).
func TestReimageHistoryGroupsByDecision(t *testing.T) {
	l := newReimageLog(clock.NewVirtual(clock.Epoch), []scenario.ScaleSet{{Name: "b", Instances: 10}})
	store := journalStore{orchestrator.NewMemoryStore(), l}
	reimage := l.wrap(func(context.Context, Backend, string, int, plan.Image) error { return nil })
	ctx := context.Background()
	decide := func(ids ...int) {
		t.Helper()
		if err := store.AppendJournal(ctx, orchestrator.JournalEntry{Set: "b"}); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			_ = reimage(ctx, nil, "b", id, plan.Image{Version: "2.0.0"})
		}
	}
	// One step, two single-instance decisions.
	decide(1)
	decide(4)
	// A decision of two; the orchestrator is killed after the first
	// reimage and the restarted one makes the second.
	decide(3)
	l.orchestratorDead(true)
	// The dead orchestrator still notes the failed call: never happened.
	if err := store.AppendJournal(ctx, orchestrator.JournalEntry{Set: "b", Note: "reimage of instance 8 failed"}); err != nil {
		t.Fatal(err)
	}
	l.orchestratorDead(false)
	_ = reimage(ctx, nil, "b", 8, plan.Image{Version: "2.0.0"})
	decide(0, 5)
	batches, _ := l.history("b", "1.0.0")
	want := `[{"kind":"upgrade","version":"2.0.0","instances":[1]},{"kind":"upgrade","version":"2.0.0","instances":[4]},` +
		`{"kind":"upgrade","version":"2.0.0","instances":[3,8]},{"kind":"upgrade","version":"2.0.0","instances":[0,5]}]`
	if got := jsonText(batches); got != want {
		t.Errorf("batches\n got %s\nwant %s", got, want)
	}
}
