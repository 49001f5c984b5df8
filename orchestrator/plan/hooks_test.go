package plan

import (
	"strings"
	"testing"
)

// Each hook reaches the planner, and a rollout without hooks keeps the
// rules: the same fleet, 10 instances with 3 unhealthy before the rollout
// (more than 20%: R-PRE-1 refuses) or a bad target version (rollback).
func TestHooksReachThePlanner(t *testing.T) {
	unhealthyFirst := func(f *tfleet) {
		for _, i := range []int{1, 2, 3} {
			f.ins[i].Health = HealthUnhealthy
		}
	}
	badTarget := func(f *tfleet) { f.badVer["v2"] = true }
	for _, c := range []struct {
		name  string
		hooks Hooks
		setup func(*tfleet)
		want  string // in the trace
	}{
		{"no hooks: the pre-check refuses", Hooks{}, unhealthyFirst, "NotStarted " + CodePrecheckUnhealthy},
		{"Gate passes the pre-check", Hooks{Gate: func(g Gate, passed bool) bool { return passed || g == GatePrecheck }}, unhealthyFirst, "rollout started"},
		{"Exceeds never", Hooks{Exceeds: func(x, n, pct int) bool { return false }}, unhealthyFirst, "rollout started"},
		{"CountsUnhealthy never", Hooks{CountsUnhealthy: func(*Instance, HealthMode) bool { return false }}, unhealthyFirst, "rollout started"},
		{"no hooks: batches of 2", Hooks{}, nil, "batch 1 started: 0 5\n"},
		{"BatchSize 1", Hooks{BatchSize: func(n, pct int) int { return 1 }}, nil, "batch 1 started: 0\n"},
		{"Batches one batch", Hooks{Batches: func(_ []Instance, order []int32, _ []Batch, _ int) ([]int32, []Batch) {
			return order, []Batch{{From: 0, To: int32(len(order))}}
		}}, nil, "batch 1 started: 0 5 1 6 2 7 3 8 4 9\n"},
		{"no hooks: rolled back", Hooks{}, badTarget, "rollback started: 0"},
		{"Rollback never", Hooks{Rollback: func(bool) bool { return false }}, badTarget, "Faulted " + CodeUpgradedUnhealthy},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTFleet(10, nil)
			if c.setup != nil {
				c.setup(f)
			}
			r, err := NewRollout(DefaultPolicy(), Image{Ref: "r", Version: "v2"}, nil, false, t0, WithHooks(c.hooks))
			if err != nil {
				t.Fatal(err)
			}
			got := trace(t, r, f, nil)
			if !strings.Contains(got, c.want) {
				t.Errorf("trace lacks %q:\n%s", c.want, got)
			}
			if c.hooks.Rollback != nil && strings.Contains(got, "rollback started") {
				t.Errorf("rolled back with the Rollback hook saying never:\n%s", got)
			}
		})
	}
}
