package harness

import (
	"context"
	"fmt"

	"github.com/osupgrade/osupgrade/harness/scenario"
)

// engine-error: the control plane misbehaves, through the Interceptor
// between the orchestrator and the fleet (Docker API errors, a slow engine):
//
//	op:    reimage (default) or observe — the call that misbehaves
//	kind:  error (default) or slow
//	nth:   error only the nth such call after the fault starts (once);
//	       without it, every call while the fault lasts
//	delay: how long a slow call takes, in scenario time
//
// Reimage faults apply to the selected instances (all without a selector).
// The orchestrator must cope: a failed reimage leaves the instance to the
// 5-minute wait (R-HEALTH-1), a failed observe delays the step.
type engineError struct{}

func init() { register("engine-error", engineError{}) }

func (engineError) Apply(_ context.Context, w *World, t Target) (func(context.Context) error, error) {
	e := t.Entry
	r := &cpRule{op: e.Op, set: t.Set, nth: e.Nth, active: true}
	if r.op == "" {
		r.op = "reimage"
	}
	if r.op != "reimage" && r.op != "observe" {
		return nil, fmt.Errorf("%w: engine-error: op is %q, want reimage or observe", ErrBadInput, e.Op)
	}
	switch e.Kind {
	case "", "error":
	case "slow":
		if e.Delay.Duration <= 0 {
			return nil, fmt.Errorf("%w: engine-error kind slow needs delay:", ErrBadInput)
		}
		r.slow = e.Delay.Duration
	default:
		return nil, fmt.Errorf("%w: engine-error: kind is %q, want error or slow", ErrBadInput, e.Kind)
	}
	if e.Nth < 0 {
		return nil, fmt.Errorf("%w: engine-error: nth is %d, want 1 or more", ErrBadInput, e.Nth)
	}
	if r.op == "reimage" && selects(e) {
		r.ids = map[int]bool{}
		for _, id := range t.IDs {
			r.ids[id] = true
		}
	}
	w.ctl.rules = append(w.ctl.rules, r)
	return func(context.Context) error { r.active = false; return nil }, nil
}

// selects reports whether an entry narrows the instances it acts on.
func selects(e *scenario.Entry) bool {
	return e.Instances != nil || e.Zone != "" || e.UpdateDomain != nil || e.Count != nil || e.Percent != nil
}
