package harness

import "github.com/osupgrade/osupgrade/orchestrator/plan"

// The checker's own reading of the rules it checks (SPEC.md R-BATCH-1,
// R-PRE-1, R-STOP-1, R-STOP-2, R-HEALTH-1/2).
//
// It is written differently from the planner's on purpose (issue 17): the
// planner divides for its batch size (plan.BatchSize: n*pct/100) and
// cross-multiplies for its gates (plan.Exceeds: 100*x > pct*n), and it
// classifies health with an if-chain (plan.CountsUnhealthy, plan.HealthyOn).
// Were the checker to call those functions, a bug in them would be a bug in
// the check as well and no invariant could trip on it. So the checker counts
// instances instead of multiplying percentages, and reads health from
// tables; the planted-bug self-test (mutation_test.go) plants off-by-one
// bugs in the planner's versions to prove the two disagree where it matters.
// Nothing in this file may call plan.BatchSize, plan.Exceeds,
// plan.CountsUnhealthy or plan.HealthyOn.

// share is pct% of a number of instances, counted one instance at a time:
// each instance adds pct hundredths of an instance, and every full hundred
// hundredths is one whole instance. Whole is pct% of the instances counted,
// rounded down; part is the hundredths left over.
type share struct {
	pct   int
	whole int
	part  int
}

// shareOf is pct% of n instances, counted.
func shareOf(n, pct int) share {
	s := share{pct: pct}
	for range n {
		s.count()
	}
	return s
}

// count adds one instance.
func (s *share) count() {
	s.part += s.pct
	for s.part >= 100 {
		s.part -= 100
		s.whole++
	}
}

// exceededBy reports whether x instances are more than the share. The share
// lies between whole and whole+1 (exactly whole when part is 0), so a whole
// number of instances is more than it exactly when it is more than whole.
func (s share) exceededBy(x int) bool { return x > s.whole }

// batchLimit is R-BATCH-1: a batch holds at most pct% of the set's
// instances, and at least one.
func batchLimit(n, pct int) int {
	if n == 0 {
		return 0
	}
	return max(shareOf(n, pct).whole, 1)
}

// reportedUnhealthy are the health states a probe or the Application Health
// extension reports that count as unhealthy: Unhealthy, and Unknown ("counts
// as unhealthy"). Initializing is the grace period: wait; Healthy is healthy.
var reportedUnhealthy = [...]bool{plan.HealthUnhealthy: true, plan.HealthUnknown: true, plan.HealthInitializing: false, plan.HealthHealthy: false}

// gateUnhealthy is what the health gates (R-PRE-1, R-STOP-1, R-STOP-2) count
// as unhealthy. A stopped instance or one whose provisioning failed is
// unhealthy however health is judged (R-HEALTH-2 asks for running and every
// extension provisioned); with a probe or the health extension (R-HEALTH-1)
// what it reports counts too.
func gateUnhealthy(r *plan.Instance, mode plan.HealthMode) bool {
	if !r.Running || r.Provisioning == plan.ProvisioningFailed {
		return true
	}
	return mode != plan.HealthNone && int(r.Health) < len(reportedUnhealthy) && reportedUnhealthy[r.Health]
}

// healthyOn is R-HEALTH-1/2's healthy, on the version the instance runs:
// running, provisioned, and, with a probe or the health extension, reported
// Healthy.
func healthyOn(r *plan.Instance, version string, mode plan.HealthMode) bool {
	switch {
	case r.Version != version, !r.Running, r.Provisioning != plan.ProvisioningSucceeded:
		return false
	case mode == plan.HealthNone:
		return true
	}
	return r.Health == plan.HealthHealthy
}
