package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// switches are an instance's fault switches; they outlive its tasks.
type switches struct {
	down, app int // down, kill and stop share a counter, as on the sim
	pause     bool
	lie       bool
	extFail   bool
	flap      time.Duration
	slowBoot  time.Duration
	slowOnly  string
}

func (s switches) agentFaults(version string) agent.Faults {
	f := agent.Faults{AppUnhealthy: s.app > 0, Lie: s.lie, FlapPeriod: s.flap, ExtensionFailure: s.extFail}
	if s.slowOnly == "" || s.slowOnly == version {
		f.SlowBoot = s.slowBoot
	}
	return f
}

// Inject applies a fault switch to instances:
//   - down, kill and stop share a counter: SIGKILL (down, kill) or a
//     graceful stop of the task's container through its node's engine; the
//     swarm does not restart it (restart condition none). When the last
//     goes off, the service is redeployed on the same image and volume: a
//     new container (the swarm cannot start an ended task again), so
//     custom data runs again, unlike a VM's restart;
//   - restart: the same, at once;
//   - pause: docker pause through the node's engine (the task stays
//     running to the swarm, its agent falls silent);
//   - app-unhealthy, lie, flap, slow-boot, extension-failure go to the
//     agent's control endpoint, at the task's address on its node's
//     docker_gwbridge (the host must route to it: `osupgrade swarm up`
//     does), and into every later boot's config and the service's
//     osupgrade.faults label (a fleet made again reads them back);
//   - network faults (partition, slow-link, loss, latency) are not
//     supported yet: fault.ErrUnsupported.
func (f *Fleet) Inject(ctx context.Context, set string, ids []int, sw fault.Switch) error {
	s, err := f.set(set)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id < 0 || id >= len(s.inst) {
			return fmt.Errorf("swarm: scale set %s has no instance %d", set, id)
		}
	}
	switch sw.Kind {
	case fault.AppUnhealthy, fault.Down, fault.Kill, fault.Stop, fault.Restart, fault.SlowBoot, fault.ExtensionFailure,
		fault.Lie, fault.Pause, fault.Flap:
	default:
		return fmt.Errorf("swarm: %w: %s", fault.ErrUnsupported, sw.Kind)
	}
	if sw.On && sw.Kind == fault.Flap && sw.Period <= 0 {
		return errors.New("swarm: flap needs a period")
	}
	return f.parallel(ctx, len(ids), func(ctx context.Context, k int) error {
		id := ids[k]
		f.mu.Lock()
		x := &s.inst[id]
		was := *x
		switch sw.Kind {
		case fault.AppUnhealthy:
			x.app = step(x.app, sw.On)
		case fault.Down, fault.Kill, fault.Stop:
			x.down = step(x.down, sw.On)
		case fault.SlowBoot:
			x.slowBoot, x.slowOnly = 0, ""
			if sw.On {
				x.slowBoot, x.slowOnly = sw.Delay, sw.Version
			}
		case fault.ExtensionFailure:
			x.extFail = sw.On
		case fault.Lie:
			x.lie = sw.On
		case fault.Pause:
			x.pause = sw.On
		case fault.Flap:
			x.flap = 0
			if sw.On {
				x.flap = sw.Period
			}
		}
		now := *x
		f.mu.Unlock()
		if err := f.switchEffect(ctx, s, id, sw, was, now); err != nil {
			return fmt.Errorf("swarm: %s on %s/%d: %w", sw.Kind, set, id, err)
		}
		return nil
	})
}

func step(n int, on bool) int {
	if on {
		return n + 1
	}
	return max(0, n-1)
}

func (f *Fleet) switchEffect(ctx context.Context, s *scaleSet, id int, sw fault.Switch, was, x switches) error {
	eng, cid, t, err := f.taskContainer(ctx, s.model.Name, id)
	if err != nil && t == nil {
		return err
	}
	state := ""
	if err == nil {
		state = containerState(ctx, eng, cid)
	}
	live := state == "running" || state == "paused"
	version := ""
	if t != nil && t.Spec.ContainerSpec != nil {
		version = t.Spec.ContainerSpec.Labels[docker.LabelVersion]
	}
	switch sw.Kind {
	case fault.Down, fault.Kill, fault.Stop:
		switch {
		case x.down > 0 && was.down == 0 && live:
			if sw.Kind == fault.Stop {
				return eng.ContainerStop(ctx, cid, container.StopOptions{})
			}
			if err := eng.ContainerKill(ctx, cid, "SIGKILL"); err != nil && !errdefs.IsConflict(err) {
				return err
			}
		case x.down == 0 && was.down > 0:
			return f.restart(ctx, s, id)
		}
		return nil
	case fault.Restart:
		if !sw.On || x.down > 0 {
			return nil
		}
		return f.restart(ctx, s, id)
	case fault.Pause:
		switch {
		case x.pause && !was.pause && state == "running":
			return eng.ContainerPause(ctx, cid)
		case !x.pause && was.pause && state == "paused":
			if err := eng.ContainerUnpause(ctx, cid); err != nil {
				return err
			}
			return f.agents.SetFaults(ctx, f.containerIP(ctx, eng, cid), x.agentFaults(version))
		}
		return nil
	}
	if err := f.saveFaults(ctx, s, id, x.agentFaults("")); err != nil {
		return err
	}
	if state != "running" {
		return nil // the next boot's config carries them
	}
	return f.agents.SetFaults(ctx, f.containerIP(ctx, eng, cid), x.agentFaults(version))
}

// restart redeploys an instance on its current image: a new boot.
func (f *Fleet) restart(ctx context.Context, s *scaleSet, id int) error {
	name := f.serviceName(s.model.Name, id)
	svc, _, err := f.mgr.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	if err != nil {
		return err
	}
	img := plan.Image{Ref: svc.Spec.Labels[docker.LabelImageRef], Version: svc.Spec.Labels[docker.LabelVersion]}
	return f.redeploy(ctx, s, id, svc.Spec.TaskTemplate.ContainerSpec.Image, img, time.Time{})
}

// saveFaults writes the agent switches into the service's labels (not the
// task's: nothing restarts).
func (f *Fleet) saveFaults(ctx context.Context, s *scaleSet, id int, fl agent.Faults) error {
	b, err := json.Marshal(fl)
	if err != nil {
		return err
	}
	name := f.serviceName(s.model.Name, id)
	for attempt := 0; ; attempt++ {
		svc, _, err := f.mgr.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		spec := svc.Spec
		spec.Labels[LabelFaults] = string(b)
		_, err = f.mgr.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
		if err == nil || attempt == 5 || !errdefs.IsUnknown(err) && !errdefs.IsConflict(err) {
			return err
		}
	}
}
