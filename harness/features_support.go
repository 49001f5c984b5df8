package harness

import "github.com/osupgrade/osupgrade/orchestrator/plan/plantedbugs"

// PlantBugs returns opts with known bugs planted in the planner, through
// the hooks of each rollout the run's orchestrator creates or loads, and in
// the fleet (orchestrator/plan/plantedbugs).
//
// TEST-ONLY: features/ uses it to prove that breaking any single gate makes
// at least one Gherkin scenario fail (issue 5). No scenario file, flag or
// API reaches it; production code must never call it.
func PlantBugs(opts Options, bugs plantedbugs.Bug) Options {
	opts.bugs = bugs
	return opts
}
