package docker_test

import (
	"context"
	"testing"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// An agent that stops reporting — cut off the network, killed — is
// Unknown (unhealthy) once its heartbeats are missed, and healthy again
// once it reports again; the others stay healthy throughout, and Observe
// asks no agent anything.
func TestPushedHealthGoesUnknownWhenReportsStop(t *testing.T) {
	f, _, clk := newFleet(t)
	ctx := context.Background()
	m := fleettest.Model("push", 3, plan.HealthExtension)
	m.AppHealth.GracePeriod = 0
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	for _, k := range []fault.Kind{fault.Partition, fault.Kill} {
		if err := f.Inject(ctx, m.Name, []int{1}, fault.Switch{Kind: k, On: true}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, f, clk, m.Name, "instance 1 Unknown under "+string(k), func(obs []plan.Instance) bool {
			for _, i := range []int{0, 2} {
				if !plan.HealthyOn(&obs[i], fleettest.V1, plan.HealthExtension) {
					t.Fatalf("%s on instance 1: instance %d is %+v", k, i, obs[i])
				}
			}
			return obs[1].Health == plan.HealthUnknown
		})
		if err := f.Inject(ctx, m.Name, []int{1}, fault.Switch{Kind: k, On: false}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, f, clk, m.Name, "healthy after "+string(k), healthyOn(fleettest.V1))
	}
	if n := docker.PolledAgents(f); n != 0 {
		t.Fatalf("Observe asked %d agents over HTTP; every one reports by push", n)
	}
}

// Version skew: instances on OS images built by an osupgrade before push
// health report nothing, and are asked over HTTP; an instance reimaged
// onto an image of this one reports by push, beside them.
func TestOlderAgentsAreAsked(t *testing.T) {
	f, _, clk := newFleet(t)
	ctx := context.Background()
	docker.SetOlderAgents(f, true)
	m := fleettest.Model("older", 2, plan.HealthExtension)
	m.AppHealth.GracePeriod = 0
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	if n := docker.PolledAgents(f); n != 2 {
		t.Fatalf("%d agents asked over HTTP, want both", n)
	}
	docker.SetOlderAgents(f, false)
	if err := f.Reimage(ctx, m.Name, 0, image(fleettest.V2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "0 healthy on V2 by push, 1 on V1 asked", func(obs []plan.Instance) bool {
		return plan.HealthyOn(&obs[0], fleettest.V2, plan.HealthExtension) && plan.HealthyOn(&obs[1], fleettest.V1, plan.HealthExtension)
	})
	if n := docker.PolledAgents(f); n != 1 {
		t.Fatalf("%d agents asked over HTTP, want only the older one", n)
	}
	if err := f.Inject(ctx, m.Name, []int{1}, fault.Switch{Kind: fault.AppUnhealthy, On: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "the older agent unhealthy", func(obs []plan.Instance) bool {
		return obs[1].Health == plan.HealthUnhealthy && plan.HealthyOn(&obs[0], fleettest.V2, plan.HealthExtension)
	})
}
