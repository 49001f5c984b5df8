// Package features holds the Gherkin specifications of osupgrade: every rule
// and invariant of SPEC.md as godog scenarios, run against the real
// orchestrator through the harness, on the simulated fleet or on containers.
//
// It holds no production code: the step definitions live in *_test.go files
// and must not reach into the planner; they drive the harness only.
package features
