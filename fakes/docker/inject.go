package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/internal/netfault"
)

// switches are an instance's fault switches, as the sim keeps them; they
// outlive its containers.
type switches struct {
	down, app int // counters: down, kill and stop share one, as on the sim
	pause     bool
	lie       bool
	extFail   bool
	flap      time.Duration
	slowBoot  time.Duration
	slowOnly  string                      // slow-boot only for this version; "": any
	net       map[fault.Kind]fault.Switch // active network faults
}

func (s switches) clone() switches {
	s.net = maps.Clone(s.net)
	return s
}

// agentFaults are the switches the agent of a container on version obeys.
func (s switches) agentFaults(version string) agent.Faults {
	f := agent.Faults{AppUnhealthy: s.app > 0, Lie: s.lie, FlapPeriod: s.flap, ExtensionFailure: s.extFail}
	if s.slowOnly == "" || s.slowOnly == version {
		f.SlowBoot = s.slowBoot
	}
	return f
}

// Inject applies a fault switch to instances, as the sim does:
//   - down, kill and stop share a counter: SIGKILL (down, kill) or a graceful
//     stop (stop, the agent exits 0), and a start with the current model when
//     the last one goes off; restart is a stop and a start, off does nothing;
//   - pause is docker pause;
//   - partition, slow-link, loss and latency act on the container's link
//     from the host (internal/netfault) and are applied again to every new
//     container of the instance while on;
//   - app-unhealthy, lie, flap, slow-boot and extension-failure go to the
//     agent's control endpoint and into the config of every later boot (a
//     reimage keeps them, as on the sim).
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
	case fault.AppUnhealthy, fault.Down, fault.Kill, fault.Stop, fault.Restart, fault.SlowBoot, fault.ExtensionFailure,
		fault.Lie, fault.Pause, fault.Flap, fault.Partition, fault.SlowLink, fault.Loss, fault.Latency:
	default:
		return fmt.Errorf("docker: %w: %s", fault.ErrUnsupported, sw.Kind)
	}
	if sw.On {
		switch {
		case sw.Kind == fault.Flap && sw.Period <= 0:
			return errors.New("docker: flap needs a period")
		case sw.Kind == fault.SlowLink && sw.Rate <= 0:
			return errors.New("docker: slow-link needs a rate in bytes per second")
		case sw.Kind == fault.Loss && (sw.Percent < 0 || sw.Percent > 100):
			return fmt.Errorf("docker: loss of %d%%: want 0 to 100", sw.Percent)
		}
	}
	return f.parallel(ctx, len(ids), func(ctx context.Context, k int) error {
		id := ids[k]
		f.mu.Lock()
		x := &s.inst[id]
		was := x.clone()
		switch sw.Kind {
		case fault.AppUnhealthy:
			x.app = step(x.app, sw.On)
		case fault.Down, fault.Kill, fault.Stop:
			x.down = step(x.down, sw.On)
		case fault.Restart:
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
		default: // network
			if x.net == nil {
				x.net = map[fault.Kind]fault.Switch{}
			}
			delete(x.net, sw.Kind)
			if sw.On {
				x.net[sw.Kind] = sw
			}
		}
		now := x.clone()
		f.mu.Unlock()
		err := f.retry(ctx, func() error { return f.applySwitch(ctx, s, id, sw, was, now) })
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

// applySwitch brings one container in line with a switch that changed.
func (f *Fleet) applySwitch(ctx context.Context, s *scaleSet, id int, sw fault.Switch, was, x switches) error {
	c, ok, err := f.instanceContainer(ctx, s.model.Name, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("instance has no container")
	}
	version := c.Labels[LabelVersion]
	started, err := f.switchEffect(ctx, s, id, sw, was, x, c)
	if err != nil || started {
		return err // a start writes the config itself
	}
	// The config carries the switches to every later boot and to a
	// reattached fleet. It is written after the effect, which must land
	// first: copying into a container takes the engine a while.
	if err := f.writeConfig(ctx, s, id, c.ID, version); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// switchEffect makes a switch's change happen to the instance's container
// c; started says it started the container (with a fresh config).
func (f *Fleet) switchEffect(ctx context.Context, s *scaleSet, id int, sw fault.Switch, was, x switches, c container.Summary) (started bool, err error) {
	version := c.Labels[LabelVersion]
	live := c.State == container.StateRunning || c.State == container.StatePaused
	switch sw.Kind {
	case fault.Down, fault.Kill, fault.Stop:
		switch {
		case x.down > 0 && was.down == 0 && live:
			if sw.Kind == fault.Stop {
				return false, f.cli.ContainerStop(ctx, c.ID, container.StopOptions{})
			}
			if err := f.cli.ContainerKill(ctx, c.ID, "SIGKILL"); err != nil && !errdefs.IsConflict(err) {
				return false, err
			}
		case x.down == 0 && was.down > 0 && !live:
			return true, f.startInstance(ctx, s, id, c.ID, version)
		}
		return false, nil
	case fault.Restart:
		if !sw.On || x.down > 0 {
			return false, nil
		}
		if live {
			if err := f.cli.ContainerStop(ctx, c.ID, container.StopOptions{}); err != nil {
				return false, err
			}
		}
		return true, f.startInstance(ctx, s, id, c.ID, version)
	case fault.Pause:
		switch {
		case x.pause && !was.pause && c.State == container.StateRunning:
			return false, f.cli.ContainerPause(ctx, c.ID)
		case !x.pause && was.pause && c.State == container.StatePaused:
			if err := f.cli.ContainerUnpause(ctx, c.ID); err != nil {
				return false, err
			}
			// The agent missed what changed while it was frozen.
			return false, f.agents.SetFaults(ctx, containerIP(&c, s.network), x.agentFaults(version))
		}
		return false, nil
	case fault.Partition, fault.SlowLink, fault.Loss, fault.Latency:
		f.undoNet(s.model.Name, id, sw.Kind)
		if !sw.On || !live {
			return false, nil // a later start applies what is on
		}
		return false, f.applyNet(ctx, s.model.Name, id, c.ID, sw)
	}
	if c.State != container.StateRunning {
		return false, nil // paused or stopped: the next unpause or start carries them
	}
	return false, f.agents.SetFaults(ctx, containerIP(&c, s.network), x.agentFaults(version))
}

// applyNet breaks the link of the instance's current container (its PID,
// and so its veth, change on every start) and keeps the undo.
func (f *Fleet) applyNet(ctx context.Context, set string, id int, containerID string, sw fault.Switch) error {
	ins, err := f.cli.ContainerInspect(ctx, containerID)
	if err != nil {
		return err
	}
	if ins.State == nil || ins.State.Pid == 0 {
		return fmt.Errorf("container %s has no process", containerID[:12])
	}
	undo, err := netfault.Apply(ins.State.Pid, wallSwitch(sw, f.scale))
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.netUndo[netKey(set, id, sw.Kind)] = undo
	f.mu.Unlock()
	return nil
}

// wallSwitch turns a network switch's scenario-time quantities into wall
// time: a rate of r bytes per scenario second is r × scale per wall second
// and a delay shrinks by the scale, so that a transfer takes the same
// scenario time as on the sim.
func wallSwitch(sw fault.Switch, scale float64) fault.Switch {
	if scale <= 0 {
		return sw
	}
	switch sw.Kind {
	case fault.SlowLink:
		sw.Rate = max(1, int(float64(sw.Rate)*scale))
	case fault.Latency:
		sw.Delay = max(time.Microsecond, time.Duration(float64(sw.Delay)/scale))
	}
	return sw
}

// undoNet ends a network fault on the instance's container, if it still has
// one to end.
func (f *Fleet) undoNet(set string, id int, k fault.Kind) {
	key := netKey(set, id, k)
	f.mu.Lock()
	undo := f.netUndo[key]
	delete(f.netUndo, key)
	f.mu.Unlock()
	if undo != nil {
		_ = undo() // the container may be gone with its link: nothing left to undo
	}
}

func netKey(set string, id int, k fault.Kind) string {
	return fmt.Sprintf("%s/%d/%s", set, id, k)
}
