package plantedbugs

import (
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Each bug planted in the rules' arithmetic is off by one at exactly its
// kind of 20% boundary and nowhere else.
func TestRulesBugsOffByOneAtTheirBoundary(t *testing.T) {
	for _, c := range []struct {
		bug   Bug
		wrong func(h plan.Hooks, n int) bool // at capacity n, 20%: the bugged rule answers differently
		want  func(n int) bool               // where it should (20% of n whole, or not)
	}{
		{BatchOneMoreWhole, func(h plan.Hooks, n int) bool { return h.BatchSize(n, 20) != plan.BatchSize(n, 20) }, func(n int) bool { return n%5 == 0 }},
		{BatchRoundsUp, func(h plan.Hooks, n int) bool { return h.BatchSize(n, 20) != plan.BatchSize(n, 20) }, func(n int) bool { return n%5 != 0 && n > 5 }},
		{ExceedsOneOverWhole, func(h plan.Hooks, n int) bool { x := n/5 + 1; return h.Exceeds(x, n, 20) != plan.Exceeds(x, n, 20) }, func(n int) bool { return n%5 == 0 }},
		{ExceedsRoundsUp, func(h plan.Hooks, n int) bool { x := n/5 + 1; return h.Exceeds(x, n, 20) != plan.Exceeds(x, n, 20) }, func(n int) bool { return n%5 != 0 }},
	} {
		h := c.bug.Hooks()
		for n := 1; n <= 200; n++ {
			if got, want := c.wrong(h, n), c.want(n); got != want {
				t.Errorf("%s at %d instances: off by one %v, want %v", c.bug, n, got, want)
			}
		}
	}
	h := UnknownNotUnhealthy.Hooks()
	unknown := plan.Instance{Running: true, Health: plan.HealthUnknown}
	stopped := plan.Instance{Health: plan.HealthUnknown}
	if h.CountsUnhealthy(&unknown, plan.HealthExtension) || !h.CountsUnhealthy(&stopped, plan.HealthExtension) {
		t.Errorf("%s: a running instance reporting Unknown should be missed, a stopped one still counted", UnknownNotUnhealthy)
	}
}

// Every bug but the fleet's plants a hook, and no bug plants another's:
// a gate's bug leaves the arithmetic alone, and the reverse.
func TestEachBugPlantsItsHookOnly(t *testing.T) {
	for _, b := range All() {
		h := b.Hooks()
		set := map[string]bool{
			"BatchSize": h.BatchSize != nil, "Exceeds": h.Exceeds != nil, "CountsUnhealthy": h.CountsUnhealthy != nil,
			"Gate": h.Gate != nil, "Rollback": h.Rollback != nil, "Batches": h.Batches != nil,
			"Admit": h.Admit != nil,
		}
		want := map[Bug]string{
			Batch25: "BatchSize", BatchOneMoreWhole: "BatchSize", BatchRoundsUp: "BatchSize",
			ExceedsOneOverWhole: "Exceeds", ExceedsRoundsUp: "Exceeds", UnknownNotUnhealthy: "CountsUnhealthy",
			SkipPrecheck: "Gate", IgnoreUpgradedUnhealthy: "Gate", IgnoreStopAfterBatch: "Gate",
			SkipRollback: "Rollback", MixZones: "Batches", MixUpdateDomains: "Batches",
			RegionZonesTogether: "Admit",
		}[b]
		for name, on := range set {
			if on != (name == want) {
				t.Errorf("%s: hook %s planted %v", b, name, on)
			}
		}
		if (b.Options() == nil) != (b == RecreateDataVolume) {
			t.Errorf("%s: %d planner options", b, len(b.Options()))
		}
	}
	// A gate's bug skips its own gate only.
	h := SkipPrecheck.Hooks()
	if !h.Gate(plan.GatePrecheck, false) || h.Gate(plan.GateSet, false) || h.Gate(plan.GateUpgraded, false) {
		t.Error("precheck-skipped reaches another gate")
	}
}
