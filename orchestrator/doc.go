// Package orchestrator is the control plane: scale-set models and their
// validation, the image catalog and triggers, and the runner that carries out
// the planner's decisions against a Fleet on a Clock.
//
// It decides nothing about batches or gates itself (orchestrator/plan does)
// and never reads the wall clock directly: time comes from its Clock.
package orchestrator
