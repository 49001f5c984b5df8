package plan

import "testing"

// Each bug planted in the rules' arithmetic is off by one at exactly its
// kind of 20% boundary and nowhere else, reaches the exported rule, and
// restore puts the exact rule back.
func TestPlantRulesBugsOffByOneAtTheirBoundary(t *testing.T) {
	unknown := Instance{Running: true, Health: HealthUnknown}
	for _, c := range []struct {
		bug   Mutations
		wrong func(n int) bool // at capacity n, 20%: the bugged rule answers differently
		want  func(n int) bool // where it should (20% of n whole, or not)
	}{
		{MutBatchOneMoreWhole, func(n int) bool { return BatchSize(n, 20) != batchSize(n, 20) }, func(n int) bool { return n%5 == 0 }},
		{MutBatchRoundsUp, func(n int) bool { return BatchSize(n, 20) != batchSize(n, 20) }, func(n int) bool { return n%5 != 0 && n > 5 }},
		{MutExceedsOneOverWhole, func(n int) bool { x := n/5 + 1; return Exceeds(x, n, 20) != exceeds(x, n, 20) }, func(n int) bool { return n%5 == 0 }},
		{MutExceedsRoundsUp, func(n int) bool { x := n/5 + 1; return Exceeds(x, n, 20) != exceeds(x, n, 20) }, func(n int) bool { return n%5 != 0 }},
	} {
		restore := PlantRulesBugs(c.bug)
		for n := 1; n <= 200; n++ {
			if got, want := c.wrong(n), c.want(n); got != want {
				t.Errorf("%s at %d instances: off by one %v, want %v", c.bug, n, got, want)
			}
		}
		restore()
		for n := 1; n <= 200; n++ {
			if c.wrong(n) {
				t.Fatalf("%s still planted at %d instances after restore", c.bug, n)
			}
		}
	}
	restore := PlantRulesBugs(MutUnknownNotUnhealthy)
	stopped := Instance{Health: HealthUnknown}
	if CountsUnhealthy(&unknown, HealthExtension) || !CountsUnhealthy(&stopped, HealthExtension) || CountUnhealthy([]Instance{unknown, stopped}, HealthProbe) != 1 {
		t.Errorf("%s: a running instance reporting Unknown should be missed, a stopped one still counted", MutUnknownNotUnhealthy)
	}
	restore()
	if !CountsUnhealthy(&unknown, HealthExtension) {
		t.Errorf("%s still planted after restore", MutUnknownNotUnhealthy)
	}
	// The gates' bugs are the rollouts' (Rollout.Mutations): none reaches the rules.
	restore = PlantRulesBugs(^rulesBugs)
	defer restore()
	if BatchSize(10, 20) != 2 || Exceeds(2, 10, 20) || !Exceeds(3, 10, 20) || !CountsUnhealthy(&unknown, HealthExtension) {
		t.Error("a gate's bug changed the rules' arithmetic")
	}
}
