// Package harness builds a world (a fleet, an orchestrator, a clock) from a
// scenario, applies its timeline and faults, and checks what happened from
// the fleet's side.
//
// It drives the orchestrator like any client does; it must not reach into
// the planner or trust the orchestrator's own account of what the fleet did.
package harness
