// Package plantedbugs holds known bugs of the rollout planner and of the
// fleet, each of which the harness's invariant checker must catch: the
// self-test (mutation testing) plants one in a planner through plan.Hooks.
//
// TEST-ONLY: the planner does not import it; nothing a user reaches
// (scenario file, ARM API, CLI flag, stored state) names a bug.
package plantedbugs

import (
	"slices"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Bug is a set of planted bugs, one bit each; the zero value plants none.
type Bug uint16

const (
	// Batch25 cuts batches at 25% of the set instead of the policy's
	// maxBatchInstancePercent (breaks R-BATCH-1, I-1).
	Batch25 Bug = 1 << iota
	// SkipPrecheck skips the R-PRE-1 health check before the first batch (I-2).
	SkipPrecheck
	// IgnoreUpgradedUnhealthy skips the R-STOP-1 check after a batch (I-2).
	IgnoreUpgradedUnhealthy
	// MixZones cuts batches across availability zones (breaks R-AVAIL-1, I-5).
	MixZones
	// MixUpdateDomains cuts batches across update domains (breaks R-BATCH-2, I-5).
	MixUpdateDomains
	// SkipRollback never rolls an instance back (breaks R-ROLLBACK-1, I-3).
	SkipRollback
	// IgnoreStopAfterBatch skips the R-STOP-2 whole-set check before later
	// batches (I-2).
	IgnoreStopAfterBatch
	// RecreateDataVolume replaces the data disk on every reimage (breaks
	// R-UPG-1, I-4). It is a fleet bug, not a planner one: the harness
	// plants it in the fleet (sim: ResetDataOnReimage).
	RecreateDataVolume
	// The rules' arithmetic, planted in the planner's BatchSize, Exceeds and
	// CountsUnhealthy, each off by one at one kind of 20% boundary.
	//
	// BatchOneMoreWhole makes BatchSize return one instance more where pct%
	// of the set is a whole number (10 at 20%: 3, not 2; 5: 2, not 1)
	// (breaks R-BATCH-1, I-1).
	BatchOneMoreWhole
	// BatchRoundsUp makes BatchSize round pct% of the set up where it is
	// not whole (12 at 20%: 3, not 2) (breaks R-BATCH-1, I-1).
	BatchRoundsUp
	// ExceedsOneOverWhole makes Exceeds let exactly one instance over the
	// limit pass where the limit is whole (3 of 10 at 20%), at every gate:
	// R-PRE-1, R-STOP-1, R-STOP-2 (I-2).
	ExceedsOneOverWhole
	// ExceedsRoundsUp makes Exceeds round a limit that is not whole up (3 of
	// 11 at 20% passes, 20% of 11 being 2.2), at every gate (I-2).
	ExceedsRoundsUp
	// UnknownNotUnhealthy makes CountsUnhealthy miss the health state
	// Unknown (a hung or unreachable instance that still runs), which counts
	// as unhealthy, at every gate (I-2).
	UnknownNotUnhealthy
	// RegionZonesTogether starts a platform batch that the fleet schedule
	// holds back because another set of the region has the version in
	// flight in another zone (breaks R-AVAIL-1 across a region, I-5).
	RegionZonesTogether

	end
)

// All lists every planted bug, one bit each.
func All() []Bug {
	var out []Bug
	for b := Bug(1); b < end; b <<= 1 {
		out = append(out, b)
	}
	return out
}

var names = map[Bug]string{
	Batch25:                 "batch-25-percent",
	SkipPrecheck:            "precheck-skipped",
	IgnoreUpgradedUnhealthy: "upgraded-unhealthy-ignored",
	MixZones:                "zones-mixed",
	MixUpdateDomains:        "update-domains-mixed",
	SkipRollback:            "rollback-skipped",
	IgnoreStopAfterBatch:    "stop-after-current-batch-ignored",
	RecreateDataVolume:      "data-volume-recreated",
	BatchOneMoreWhole:       "batch-size-one-more-where-whole",
	BatchRoundsUp:           "batch-size-rounded-up",
	ExceedsOneOverWhole:     "exceeds-one-over-passes-where-whole",
	ExceedsRoundsUp:         "exceeds-limit-rounded-up",
	UnknownNotUnhealthy:     "unknown-health-not-counted",
	RegionZonesTogether:     "region-zones-together",
}

// String names a single bug, or lists a set of them.
func (b Bug) String() string {
	if b == 0 {
		return "none"
	}
	s := ""
	for _, one := range All() {
		if b&one != 0 {
			if s != "" {
				s += "+"
			}
			s += names[one]
		}
	}
	return s
}

// Has reports whether every bit of x is planted.
func (b Bug) Has(x Bug) bool { return b&x == x && x != 0 }

// Hooks are the planner bugs of b as plan.Hooks (the fleet's,
// RecreateDataVolume, are not the planner's: the harness plants them).
func (b Bug) Hooks() plan.Hooks {
	var h plan.Hooks
	if b.Has(Batch25) {
		h.BatchSize = func(n, _ int) int { return plan.BatchSize(n, 25) }
	}
	if b.Has(BatchOneMoreWhole) {
		h.BatchSize = func(n, pct int) int {
			if n > 0 && n*pct%100 == 0 {
				return plan.BatchSize(n, pct) + 1
			}
			return plan.BatchSize(n, pct)
		}
	}
	if b.Has(BatchRoundsUp) {
		h.BatchSize = func(n, pct int) int {
			if n <= 0 {
				return 0
			}
			return max(1, (n*pct+99)/100)
		}
	}
	if b.Has(ExceedsOneOverWhole) {
		h.Exceeds = func(x, n, pct int) bool {
			if pct*n%100 == 0 {
				return 100*x > pct*n+100
			}
			return plan.Exceeds(x, n, pct)
		}
	}
	if b.Has(ExceedsRoundsUp) {
		h.Exceeds = func(x, n, pct int) bool { return x > (pct*n+99)/100 }
	}
	if b.Has(RegionZonesTogether) {
		h.Admit = func(bool) bool { return true }
	}
	if b.Has(UnknownNotUnhealthy) {
		h.CountsUnhealthy = func(in *plan.Instance, mode plan.HealthMode) bool {
			if in.Running && in.Provisioning != plan.ProvisioningFailed && in.Health == plan.HealthUnknown {
				return false
			}
			return plan.CountsUnhealthy(in, mode)
		}
	}
	skipped := map[plan.Gate]bool{
		plan.GatePrecheck: b.Has(SkipPrecheck),
		plan.GateUpgraded: b.Has(IgnoreUpgradedUnhealthy),
		plan.GateSet:      b.Has(IgnoreStopAfterBatch),
	}
	if b.Has(SkipPrecheck) || b.Has(IgnoreUpgradedUnhealthy) || b.Has(IgnoreStopAfterBatch) {
		h.Gate = func(g plan.Gate, passed bool) bool { return passed || skipped[g] }
	}
	if b.Has(SkipRollback) {
		h.Rollback = func(bool) bool { return false }
	}
	if mixZones, mixUDs := b.Has(MixZones), b.Has(MixUpdateDomains); mixZones || mixUDs {
		h.Batches = func(instances []plan.Instance, order []int32, _ []plan.Batch, batchSize int) ([]int32, []plan.Batch) {
			if mixZones {
				// Zone by zone no more: update domain first, so zones meet in a batch.
				order = slices.Clone(order)
				slices.SortStableFunc(order, func(a, b int32) int { return instances[a].UpdateDomain - instances[b].UpdateDomain })
			}
			return order, cutAcross(instances, order, max(1, batchSize), mixZones, mixUDs)
		}
	}
	return h
}

// Options are the planner options that plant b in a rollout.
func (b Bug) Options() []plan.Option {
	if b&^RecreateDataVolume == 0 {
		return nil
	}
	return []plan.Option{plan.WithHooks(b.Hooks())}
}

// cutAcross cuts batches over the whole order, breaking only at the
// boundaries the bug still respects. Each batch is labelled with its first
// instance's zone and update domain.
func cutAcross(instances []plan.Instance, order []int32, batchSize int, mixZones, mixUDs bool) []plan.Batch {
	var batches []plan.Batch
	for from := 0; from < len(order); {
		first := &instances[order[from]]
		to := from + 1
		for to < len(order) && to-from < batchSize {
			in := &instances[order[to]]
			if (!mixZones && in.Zone != first.Zone) || (!mixUDs && in.UpdateDomain != first.UpdateDomain) {
				break
			}
			to++
		}
		batches = append(batches, plan.Batch{From: int32(from), To: int32(to), Zone: first.Zone, UpdateDomain: first.UpdateDomain})
		from = to
	}
	return batches
}
