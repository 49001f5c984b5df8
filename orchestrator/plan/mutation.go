package plan

// Mutations plant known bugs in the planner's gates, so that the harness's
// invariant checker can prove it catches each one (mutation testing).
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
