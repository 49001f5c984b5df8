// Package features holds the Gherkin specifications of osupgrade: every rule
// and invariant of docs/rules.md as godog scenarios, run against the real
// orchestrator through the harness, on the simulated fleet or on containers.
//
// It holds no production code: the step vocabulary lives in features/steps
// (also what `osupgrade features` runs a user's .feature files with); the
// tests here run this directory's features through it and guard the suite.
package features
