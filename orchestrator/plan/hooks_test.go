package plan

import (
	"strings"
	"testing"
	"time"
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

// Every decision carries the status it leaves behind, and the one that ends
// the rollout carries why: the caller journals it without reading the state.
func TestDecisionCarriesTheStatus(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(*tfleet)
		want  Status
		code  string
	}{
		{"completed", func(*tfleet) {}, StatusCompleted, ""},
		{"faulted", func(f *tfleet) { f.badVer["v2"] = true }, StatusFaulted, CodeUpgradedUnhealthy},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTFleet(10, nil)
			c.setup(f)
			r := newRollout(t, DefaultPolicy(), true, nil)
			now := t0
			var d Decision
			for step := 0; !r.Status().Terminal(); step++ {
				if step > 1000 {
					t.Fatal("the rollout did not end")
				}
				f.tick(now)
				d = r.Next(Observation{Now: now, Instances: f.ins})
				if d.Status != r.Status() {
					t.Fatalf("decision at %s says %s, the rollout is %s", now.Sub(t0), d.Status, r.Status())
				}
				f.apply(d, now)
				now = now.Add(30 * time.Second)
			}
			if d.Status != c.want || d.ErrorCode != c.code || d.ErrorMessage != r.ErrorMessage() {
				t.Fatalf("last decision %s %q %q, want %s %q %q", d.Status, d.ErrorCode, d.ErrorMessage, c.want, c.code, r.ErrorMessage())
			}
			if after := r.Next(Observation{Now: now, Instances: f.ins}); after.Status != c.want || len(after.Events)+len(after.Reimages) != 0 {
				t.Fatalf("a decision after the end: %+v", after)
			}
		})
	}
}
