package plan

// Mutations plant known bugs in the planner's gates and in the arithmetic of
// its rules (BatchSize, Exceeds, CountsUnhealthy: see PlantRulesBugs), so
// that the harness's invariant checker, which does its own arithmetic, can
// prove it catches each one (mutation testing).
//
// TEST-ONLY. The zero value plants nothing. Nothing in scenario files, the
// ARM API, the CLI or the persisted state can set them: Rollout.Mutations is
// not serialized, and only orchestrator.Options (set by Go code) copies them
// into new rollouts.
type Mutations uint16

const (
	// MutBatch25 cuts batches at 25% of the set instead of the policy's
	// maxBatchInstancePercent (breaks R-BATCH-1, I-1).
	MutBatch25 Mutations = 1 << iota
	// MutSkipPrecheck skips the R-PRE-1 health check before the first batch (I-2).
	MutSkipPrecheck
	// MutIgnoreUpgradedUnhealthy skips the R-STOP-1 check after a batch (I-2).
	MutIgnoreUpgradedUnhealthy
	// MutMixZones cuts batches across availability zones (breaks R-AVAIL-1, I-5).
	MutMixZones
	// MutMixUpdateDomains cuts batches across update domains (breaks R-BATCH-2, I-5).
	MutMixUpdateDomains
	// MutSkipRollback never rolls an instance back (breaks R-ROLLBACK-1, I-3).
	MutSkipRollback
	// MutIgnoreStopAfterBatch skips the R-STOP-2 whole-set check before
	// later batches (I-2).
	MutIgnoreStopAfterBatch
	// MutRecreateDataVolume replaces the data disk on every reimage (breaks
	// R-UPG-1, I-4). It is a fleet bug, not a planner one: the harness
	// plants it in the fleet (sim: ResetDataOnReimage).
	MutRecreateDataVolume
	// The rules' arithmetic: planted by PlantRulesBugs in BatchSize, Exceeds
	// and CountsUnhealthy for every caller (a rollout's Mutations ignore
	// them), each off by one at one kind of 20% boundary.
	//
	// MutBatchOneMoreWhole makes BatchSize return one instance more where
	// pct% of the set is a whole number (10 at 20%: 3, not 2; 5: 2, not 1)
	// (breaks R-BATCH-1, I-1).
	MutBatchOneMoreWhole
	// MutBatchRoundsUp makes BatchSize round pct% of the set up where it is
	// not whole (12 at 20%: 3, not 2) (breaks R-BATCH-1, I-1).
	MutBatchRoundsUp
	// MutExceedsOneOverWhole makes Exceeds let exactly one instance over the
	// limit pass where the limit is whole (3 of 10 at 20%), at every gate:
	// R-PRE-1, R-STOP-1, R-STOP-2 (I-2).
	MutExceedsOneOverWhole
	// MutExceedsRoundsUp makes Exceeds round a limit that is not whole up
	// (3 of 11 at 20% passes, 20% of 11 being 2.2), at every gate (I-2).
	MutExceedsRoundsUp
	// MutUnknownNotUnhealthy makes CountsUnhealthy miss the health state
	// Unknown (a hung or unreachable instance that still runs), which
	// counts as unhealthy, at every gate (I-2).
	MutUnknownNotUnhealthy
	// MutRegionZonesTogether starts a platform batch that the fleet
	// schedule holds back for its zone (Observation.Admit refused): two
	// zones of a region upgrade to one version at once (breaks R-AVAIL-1
	// across a region, I-5).
	MutRegionZonesTogether

	mutEnd
)

// AllMutations lists every planted bug, one bit each.
func AllMutations() []Mutations {
	var out []Mutations
	for m := Mutations(1); m < mutEnd; m <<= 1 {
		out = append(out, m)
	}
	return out
}

var mutationNames = map[Mutations]string{
	MutBatch25:                 "batch-25-percent",
	MutSkipPrecheck:            "precheck-skipped",
	MutIgnoreUpgradedUnhealthy: "upgraded-unhealthy-ignored",
	MutMixZones:                "zones-mixed",
	MutMixUpdateDomains:        "update-domains-mixed",
	MutSkipRollback:            "rollback-skipped",
	MutIgnoreStopAfterBatch:    "stop-after-current-batch-ignored",
	MutRecreateDataVolume:      "data-volume-recreated",
	MutBatchOneMoreWhole:       "batch-size-one-more-where-whole",
	MutBatchRoundsUp:           "batch-size-rounded-up",
	MutExceedsOneOverWhole:     "exceeds-one-over-passes-where-whole",
	MutExceedsRoundsUp:         "exceeds-limit-rounded-up",
	MutUnknownNotUnhealthy:     "unknown-health-not-counted",
	MutRegionZonesTogether:     "region-zones-together",
}

// rulesBugs are the mutations planted in the rules' arithmetic itself
// (BatchSize, Exceeds, CountsUnhealthy). A rollout's Mutations do not plant
// them: PlantRulesBugs does, for the whole process, so that they reach every
// caller as a real bug would.
const rulesBugs = MutBatchOneMoreWhole | MutBatchRoundsUp | MutExceedsOneOverWhole | MutExceedsRoundsUp | MutUnknownNotUnhealthy

// PlantRulesBugs plants the rules' bugs of m (the others it leaves to the
// rollouts' Mutations) in BatchSize, Exceeds and CountsUnhealthy for every
// caller in the process, until restore puts back what was there.
//
// TEST-ONLY, like Mutations: no scenario file, API request, flag or
// persisted state reaches it. Call it before the rollouts it is for run and
// restore after they are done; plantings nest, they are not for tests
// running in parallel with different bugs.
func PlantRulesBugs(m Mutations) (restore func()) {
	ru := exactRules
	if m.Has(MutBatchOneMoreWhole) {
		ru.batchSize = func(n, pct int) int {
			if n > 0 && n*pct%100 == 0 {
				return batchSize(n, pct) + 1
			}
			return batchSize(n, pct)
		}
	}
	if m.Has(MutBatchRoundsUp) {
		ru.batchSize = func(n, pct int) int {
			if n <= 0 {
				return 0
			}
			return max(1, (n*pct+99)/100)
		}
	}
	if m.Has(MutExceedsOneOverWhole) {
		ru.exceeds = func(x, n, pct int) bool {
			if pct*n%100 == 0 {
				return 100*x > pct*n+100
			}
			return exceeds(x, n, pct)
		}
	}
	if m.Has(MutExceedsRoundsUp) {
		ru.exceeds = func(x, n, pct int) bool { return x > (pct*n+99)/100 }
	}
	if m.Has(MutUnknownNotUnhealthy) {
		ru.countsUnhealthy = func(in *Instance, mode HealthMode) bool {
			if in.Running && in.Provisioning != ProvisioningFailed && in.Health == HealthUnknown {
				return false
			}
			return countsUnhealthy(in, mode)
		}
	}
	before := arithmetic.Swap(&ru)
	return func() { arithmetic.Store(before) }
}

// String names a single mutation, or lists a set of them.
func (m Mutations) String() string {
	if m == 0 {
		return "none"
	}
	s := ""
	for _, one := range AllMutations() {
		if m&one != 0 {
			if s != "" {
				s += "+"
			}
			s += mutationNames[one]
		}
	}
	return s
}

// Has reports whether every bit of x is planted.
func (m Mutations) Has(x Mutations) bool { return m&x == x && x != 0 }
