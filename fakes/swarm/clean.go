package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
)

// Clean removes this run's services, then its networks on the manager and
// its containers and volumes on every node. The OS images stay (shared by
// runs). The swarm and everything without our labels stay as they are.
func (f *Fleet) Clean(ctx context.Context) error {
	f.mu.Lock()
	f.sets = map[string]*scaleSet{}
	f.mu.Unlock()
	f.reports.ForgetSet("")
	return f.remove(ctx, "")
}

func (f *Fleet) remove(ctx context.Context, set string) error {
	f.mu.Lock()
	engines := make([]*client.Client, 0, len(f.engines))
	for _, c := range f.engines {
		engines = append(engines, c)
	}
	f.mu.Unlock()
	return removeLabelled(ctx, f.mgr, engines, f.runFilter(set), false, f.progress)
}

// removeLabelled removes what sel selects and carries the owner label:
// services first (the swarm stops their tasks), then overlay networks on
// the manager, then on each node containers, volumes and (images) OS
// images, retried while the tasks' containers are still going.
func removeLabelled(ctx context.Context, mgr *client.Client, engines []*client.Client, sel filters.Args, images bool, progress io.Writer) error {
	var errs []error
	svcs, err := mgr.ServiceList(ctx, swarm.ServiceListOptions{Filters: sel})
	if err != nil {
		return fmt.Errorf("swarm: clean: list services: %w", err)
	}
	n := 0
	for _, s := range svcs {
		if s.Spec.Labels[docker.LabelOwner] != docker.Owner {
			continue
		}
		if err := mgr.ServiceRemove(ctx, s.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
			continue
		}
		n++
	}
	nws, err := mgr.NetworkList(ctx, network.ListOptions{Filters: sel})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, nw := range nws {
		if nw.Labels[docker.LabelOwner] != docker.Owner || nw.Scope != "swarm" {
			continue
		}
		var rerr error
		for attempt := 0; attempt < 20; attempt++ {
			if rerr = mgr.NetworkRemove(ctx, nw.ID); rerr == nil || errdefs.IsNotFound(rerr) {
				rerr = nil
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, rerr))
		}
	}
	// On the nodes: what the tasks left (their containers, kept as task
	// history, and the volumes they mounted). A container the swarm is
	// still stopping holds its volume: try again.
	for _, eng := range engines {
		var nerr error
		for attempt := 0; attempt < 10; attempt++ {
			if nerr = docker.RemoveLabelled(ctx, eng, sel, images, progress); nerr == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if nerr != nil {
			errs = append(errs, nerr)
		}
	}
	if progress != nil && n > 0 {
		fmt.Fprintf(progress, "swarm: removed %d services\n", n)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swarm: clean: %w", err)
	}
	return nil
}

// CleanAll removes every service, network, container, volume and OS image
// labelled osupgrade.owner=osupgrade on the swarm whose manager is host and
// on each node's engine (`osupgrade clean --fleet swarm`). The swarm itself,
// its nodes and anything not ours stay as they were.
func CleanAll(ctx context.Context, host string, progress io.Writer) error {
	mgr, err := connect(ctx, host)
	if err != nil {
		return err
	}
	defer mgr.Close()
	nodes, err := mgr.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return fmt.Errorf("swarm: clean: list nodes: %w", err)
	}
	var engines []*client.Client
	for _, n := range nodes {
		h := n.Spec.Labels[NodeEngineLabel]
		if h == "" {
			if progress != nil {
				fmt.Fprintf(progress, "swarm: clean: node %s has no %s label: its containers and volumes are not reached\n", n.ID, NodeEngineLabel)
			}
			continue
		}
		c, err := connect(ctx, h)
		if err != nil {
			return fmt.Errorf("swarm: clean: node %s: %w", n.ID, err)
		}
		defer c.Close()
		engines = append(engines, c)
	}
	return removeLabelled(ctx, mgr, engines, filters.NewArgs(filters.Arg("label", docker.LabelOwner+"="+docker.Owner)), true, progress)
}

// reattach rebuilds the fleet's view of the run's scale sets from its
// services: the agent config in a service's environment holds the model,
// its osupgrade.faults label the agent switches.
func (f *Fleet) reattach(ctx context.Context) error {
	svcs, err := f.mgr.ServiceList(ctx, swarm.ServiceListOptions{Filters: f.runFilter("")})
	if err != nil {
		return fmt.Errorf("swarm: list services of run %s: %w", f.runID, err)
	}
	for _, svc := range svcs {
		cs := svc.Spec.TaskTemplate.ContainerSpec
		if svc.Spec.Labels[docker.LabelOwner] != docker.Owner || cs == nil {
			continue
		}
		var cfg agent.Config
		for _, kv := range cs.Env {
			if v, ok := strings.CutPrefix(kv, agent.ConfigEnv+"="); ok {
				if err := json.Unmarshal([]byte(v), &cfg); err != nil {
					return fmt.Errorf("swarm: reattach: config of %s: %w", svc.Spec.Name, err)
				}
			}
		}
		set := svc.Spec.Labels[docker.LabelSet]
		id, err := strconv.Atoi(svc.Spec.Labels[docker.LabelInstance])
		if err != nil || set == "" || cfg.Model.Capacity == 0 {
			continue
		}
		s, ok := f.sets[set]
		if !ok {
			s = &scaleSet{model: cfg.Model, network: f.networkName(set), inst: make([]switches, cfg.Model.Capacity), placed: make([]string, cfg.Model.Capacity)}
			f.sets[set] = s
			f.putPayloads(cfg.Model)
		}
		if id >= len(s.inst) {
			continue
		}
		s.placed[id] = svc.Spec.Labels[LabelNode]
		var fl agent.Faults
		if b := svc.Spec.Labels[LabelFaults]; b != "" {
			_ = json.Unmarshal([]byte(b), &fl)
		}
		s.inst[id] = switches{lie: fl.Lie, flap: fl.FlapPeriod, slowBoot: fl.SlowBoot, extFail: fl.ExtensionFailure}
		if fl.AppUnhealthy {
			s.inst[id].app = 1
		}
	}
	return nil
}
