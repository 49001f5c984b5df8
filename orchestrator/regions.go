package orchestrator

import "github.com/osupgrade/osupgrade/orchestrator/plan"

// The region rules live with the fleet schedule in plan (R-AVAIL-2); these
// keep the orchestrator's callers' names.

// Regions lists the supported regions in the platform's rollout order.
func Regions() []string { return plan.Regions() }

// KnownRegion reports a supported region.
func KnownRegion(r string) bool { return plan.KnownRegion(r) }

// Paired reports whether a and b are a geographic pair.
func Paired(a, b string) bool { return plan.Paired(a, b) }

// Phases groups regions into the platform's rollout phases (R-AVAIL-2).
func Phases(regions []string) ([][]string, error) { return plan.Phases(regions) }
