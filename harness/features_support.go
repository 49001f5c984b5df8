package harness

import "github.com/osupgrade/osupgrade/orchestrator/plan"

// PlantBugs returns opts with known bugs planted in the planner and the fleet
// (orchestrator/plan/mutation.go). The bugs of the rules' arithmetic are
// not the rollouts' but the process's: the caller plants them around its
// runs with plan.PlantRulesBugs.
//
// TEST-ONLY: features/ uses it to prove that breaking any single gate makes
// at least one Gherkin scenario fail (issue 5). No scenario file, flag or
// API reaches it; production code must never call it.
func PlantBugs(opts Options, bugs plan.Mutations) Options {
	opts.mutations = bugs
	return opts
}
