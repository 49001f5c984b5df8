package bench

import (
	"fmt"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// PlannerFleet is an in-memory observation of n instances in three zones and
// five update domains, all healthy on version "1": what the planner alone
// sees, with no fleet behind it.
func PlannerFleet(n int) []plan.Instance {
	zones := []string{"1", "2", "3"}
	in := make([]plan.Instance, n)
	for i := range in {
		in[i] = plan.Instance{ID: i, Zone: zones[i%3], UpdateDomain: (i / 3) % 5, Version: "1", Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy}
	}
	return in
}

// PlannerRollout drives one whole rollout of instances to version "2" with
// the planner alone: after each decision every reimaged instance is at once
// healthy on its new version and the clock moves to the decision's wake time.
// It measures the planner's decision cost without a fleet. instances is
// modified. It returns the number of decisions.
func PlannerRollout(instances []plan.Instance, start time.Time) (int, error) {
	r, err := plan.NewRollout(plan.DefaultPolicy(), plan.Image{Ref: "bench", Version: "2"}, []string{"1", "2", "3"}, true, start)
	if err != nil {
		return 0, err
	}
	now := start
	decisions := 0
	for !r.Status().Terminal() {
		d := r.Next(plan.Observation{Now: now, Instances: instances})
		decisions++
		for _, x := range d.Reimages {
			instances[x.Index].Version = x.Image.Version
		}
		if !d.WakeAt.IsZero() && len(d.Reimages) > 0 {
			now = now.Add(time.Second)
		} else if !d.WakeAt.IsZero() {
			now = d.WakeAt
		}
		if decisions > 4*len(instances)+10 {
			return decisions, fmt.Errorf("bench: the planner made %d decisions for %d instances without finishing", decisions, len(instances))
		}
	}
	if r.Status() != plan.StatusCompleted {
		return decisions, fmt.Errorf("bench: planner-only rollout ended %s: %s", r.Status(), r.ErrorMessage())
	}
	return decisions, nil
}
