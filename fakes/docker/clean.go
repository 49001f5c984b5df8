package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/internal/netfault"
)

// Clean removes this run's containers, volumes and networks (those
// labelled with its run id) and stops its storage listeners. The OS images
// stay: they are shared by runs and reused. Nothing without our labels is
// touched (I-7).
func (f *Fleet) Clean(ctx context.Context) error {
	f.mu.Lock()
	for name, s := range f.sets {
		if s.srv != nil {
			s.srv.Close()
		}
		delete(f.sets, name)
	}
	f.cache = map[string]seen{}
	f.netUndo = map[string]netfault.Undo{} // the links go with the containers
	f.mu.Unlock()
	return f.remove(ctx, "")
}

// remove deletes the run's resources, or one set's.
func (f *Fleet) remove(ctx context.Context, set string) error {
	return removeLabelled(ctx, f.cli, f.runFilter(set, -1), false, f.progress)
}

// CleanAll removes every resource labelled osupgrade.owner=osupgrade, of
// every run: containers, volumes, networks and OS images (`osupgrade
// clean`). Nothing else is touched (I-7).
func CleanAll(ctx context.Context, progress io.Writer) error {
	cli, err := Connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	return removeLabelled(ctx, cli, filters.NewArgs(filters.Arg("label", LabelOwner+"="+Owner)), true, progress)
}

// removeLabelled removes what the label filter selects, containers first
// (they hold volumes and networks), and re-checks the owner label of every
// resource before removing it.
func removeLabelled(ctx context.Context, cli *client.Client, sel filters.Args, images bool, progress io.Writer) error {
	var errs []error
	ours := func(l map[string]string) bool { return l[LabelOwner] == Owner }
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
	if err != nil {
		return fmt.Errorf("docker: clean: list containers: %w", err)
	}
	sem := make(chan struct{}, 8)
	errc := make(chan error, len(cs))
	for _, c := range cs {
		if !ours(c.Labels) {
			continue
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
			if err != nil && !errdefs.IsNotFound(err) {
				errc <- fmt.Errorf("remove container %s: %w", c.ID[:12], err)
				return
			}
			errc <- nil
		}()
	}
	n := 0
	for _, c := range cs {
		if ours(c.Labels) {
			errs = append(errs, <-errc)
			n++
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: sel})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	nv := 0
	for _, v := range vs.Volumes {
		if v == nil || !ours(v.Labels) {
			continue
		}
		if err := cli.VolumeRemove(ctx, v.Name, false); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		nv++
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: sel})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	nn := 0
	for _, nw := range ns {
		if !ours(nw.Labels) {
			continue
		}
		if err := removeNetwork(ctx, cli, nw.ID, networkRetries); err != nil {
			var stale *staleNetworkError
			if errors.As(err, &stale) {
				// The engine's defect, not a leak of ours: say so, go on.
				if progress != nil {
					fmt.Fprintf(progress, "docker: warning: network %s stays: %v\n", nw.Name, err)
				}
				continue
			}
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
			continue
		}
		nn++
	}
	ni := 0
	if images {
		is, err := cli.ImageList(ctx, image.ListOptions{Filters: sel})
		if err != nil {
			errs = append(errs, fmt.Errorf("list images: %w", err))
		}
		for _, im := range is {
			if !ours(im.Labels) {
				continue
			}
			if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %s: %w", im.ID, err))
				continue
			}
			ni++
		}
	}
	if progress != nil && n+nv+nn+ni > 0 {
		fmt.Fprintf(progress, "docker: removed %d containers, %d volumes, %d networks, %d images\n", n, nv, nn, ni)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("docker: clean: %w", err)
	}
	return nil
}

// networkRetries are the waits before each new attempt to remove a network
// the engine says still has endpoints: libnetwork releases a removed
// container's endpoint after the removal returns, more slowly under load.
var networkRetries = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// staleNetworkError is a network the engine refuses to remove for "active
// endpoints" while nothing is attached to it: Docker 20.10's libnetwork
// keeps a stale endpoint count (seen after containers were force-removed
// while others started) until the daemon restarts; no client call clears it.
type staleNetworkError struct{ err error }

func (e *staleNetworkError) Error() string {
	return fmt.Sprintf("the engine keeps a stale endpoint with nothing attached (a Docker 20.10 defect; a daemon restart clears it): %v", e.err)
}
func (e *staleNetworkError) Unwrap() error { return e.err }

// removeNetwork removes a network of ours: endpoints still attached (a
// container of ours removed meanwhile by someone else leaves none, one
// being removed may) are force-disconnected first, and a refusal for
// active endpoints is retried after each wait.
func removeNetwork(ctx context.Context, cli *client.Client, id string, waits []time.Duration) error {
	for attempt := 0; ; attempt++ {
		err := cli.NetworkRemove(ctx, id)
		if err == nil || errdefs.IsNotFound(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		nw, ierr := cli.NetworkInspect(ctx, id, network.InspectOptions{})
		if errdefs.IsNotFound(ierr) {
			return nil
		}
		for ep := range nw.Containers {
			_ = cli.NetworkDisconnect(ctx, id, ep, true)
		}
		if attempt == len(waits) {
			if ierr == nil && len(nw.Containers) == 0 {
				return &staleNetworkError{err: err}
			}
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(waits[attempt]):
		}
	}
}

// reattach rebuilds the fleet's view of the run's scale sets from the
// engine: the networks name the sets, the newest container config holds
// each set's model and fault switches.
func (f *Fleet) reattach(ctx context.Context) error {
	ns, err := f.cli.NetworkList(ctx, network.ListOptions{Filters: f.runFilter("", -1)})
	if err != nil {
		return fmt.Errorf("docker: list networks of run %s: %w", f.runID, err)
	}
	for _, nw := range ns {
		set := nw.Labels[LabelSet]
		if set == "" || nw.Labels[LabelOwner] != Owner {
			continue
		}
		cs, err := f.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f.runFilter(set, -1)})
		if err != nil {
			return fmt.Errorf("docker: reattach %s: %w", set, err)
		}
		if len(cs) == 0 {
			continue
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i].Created > cs[j].Created })
		var cfgs = map[int]agent.Config{}
		var model *agent.Config
		for _, c := range cs {
			cfg, err := f.containerConfig(ctx, c.ID)
			if err != nil {
				continue
			}
			if id, err := strconv.Atoi(c.Labels[LabelInstance]); err == nil {
				cfgs[id] = cfg
			}
			if model == nil {
				model = &cfg
			}
		}
		if model == nil {
			return fmt.Errorf("docker: reattach %s: no container holds a readable config", set)
		}
		s := &scaleSet{model: model.Model, network: nw.Name, inst: make([]switches, model.Model.Capacity)}
		for id, cfg := range cfgs {
			if id < len(s.inst) {
				fl := cfg.Faults
				s.inst[id] = switches{lie: fl.Lie, flap: fl.FlapPeriod, slowBoot: fl.SlowBoot, extFail: fl.ExtensionFailure}
				if fl.AppUnhealthy {
					s.inst[id].app = 1
				}
			}
		}
		for _, c := range cs {
			if id, err := strconv.Atoi(c.Labels[LabelInstance]); err == nil && id < len(s.inst) && c.State == container.StatePaused {
				s.inst[id].pause = true
			}
		}
		for _, cfg := range nw.IPAM.Config {
			if cfg.Gateway != "" {
				s.gateway = cfg.Gateway
				break
			}
		}
		if s.gateway == "" {
			return fmt.Errorf("docker: reattach %s: network %s has no gateway", set, nw.Name)
		}
		if err := f.serveStorage(s); err != nil {
			return err
		}
		f.putPayloads(s.model)
		f.sets[set] = s
	}
	return nil
}
