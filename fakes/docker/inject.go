package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/osupgrade/osupgrade/fakes/fault"
)

// Inject applies a fault switch to instances, as the sim does: down is a
// SIGKILL (and a start, with the current model, when the last down switch
// goes off); pause is docker pause; app-unhealthy, lie, flap, slow-boot and
// extension-failure go to the agent's control endpoint and into the config
// of every later boot (a reimage keeps them, as the sim does).
func (f *Fleet) Inject(ctx context.Context, set string, ids []int, sw fault.Switch) error {
	s, err := f.set(set)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id < 0 || id >= len(s.inst) {
			return fmt.Errorf("docker: scale set %s has no instance %d", set, id)
		}
	}
	switch sw.Kind {
	case fault.AppUnhealthy, fault.Down, fault.SlowBoot, fault.ExtensionFailure, fault.Lie, fault.Pause, fault.Flap:
	default:
		return fmt.Errorf("docker: %w: %s", fault.ErrUnsupported, sw.Kind)
	}
	if sw.Kind == fault.Flap && sw.On && sw.Period <= 0 {
		return errors.New("docker: flap needs a period")
	}
	return f.parallel(ctx, len(ids), func(ctx context.Context, k int) error {
		id := ids[k]
		f.mu.Lock()
		x := &s.inst[id]
		wasDown, wasPaused := x.down > 0, x.pause
		switch sw.Kind {
		case fault.AppUnhealthy:
			x.app = step(x.app, sw.On)
		case fault.Down:
			x.down = step(x.down, sw.On)
		case fault.SlowBoot:
			x.slowBoot = 0
			if sw.On {
				x.slowBoot = sw.Delay
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
		err := f.retry(ctx, func() error { return f.applySwitches(ctx, s, id, wasDown, wasPaused, now) })
		if err != nil {
			return fmt.Errorf("docker: %s on %s/%d: %w", sw.Kind, set, id, err)
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

// applySwitches brings one container in line with its switches.
func (f *Fleet) applySwitches(ctx context.Context, s *scaleSet, id int, wasDown, wasPaused bool, x switches) error {
	c, ok, err := f.instanceContainer(ctx, s.model.Name, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("instance has no container")
	}
	// The config carries the switches to every later boot and to a
	// reattached fleet.
	if err := f.writeConfig(ctx, s, id, c.ID); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	down := x.down > 0
	switch {
	case down && !wasDown:
		if c.State == container.StateRunning || c.State == container.StatePaused {
			if err := f.cli.ContainerKill(ctx, c.ID, "SIGKILL"); err != nil && !errdefs.IsConflict(err) {
				return err
			}
		}
		return nil
	case !down && wasDown:
		if c.State != container.StateRunning && c.State != container.StatePaused {
			return f.startInstance(ctx, s, id, c.ID)
		}
		return nil
	case down:
		return nil // the config of the next start carries the switches
	}
	switch {
	case x.pause && !wasPaused && c.State == container.StateRunning:
		return f.cli.ContainerPause(ctx, c.ID)
	case !x.pause && wasPaused && c.State == container.StatePaused:
		if err := f.cli.ContainerUnpause(ctx, c.ID); err != nil {
			return err
		}
		c.State = container.StateRunning
	}
	if c.State != container.StateRunning {
		return nil // paused or stopped: the next start or unpause carries them
	}
	if err := f.agents.SetFaults(ctx, containerIP(&c, s.network), x.agentFaults()); err != nil {
		return err
	}
	return nil
}
