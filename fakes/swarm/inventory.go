package swarm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/docker"
)

// Foreign lists what osupgrade did not create, with the state a change of
// which would mean it was touched (I-7): the swarm's nodes (availability,
// labels) and services without our owner label on the manager, and every
// container, network, volume and image without it on each node's engine.
// Compare a listing taken before a run with one taken after.
func (f *Fleet) Foreign(ctx context.Context) ([]string, error) {
	ours := func(l map[string]string) bool { return l[docker.LabelOwner] == docker.Owner }
	var out []string
	nodes, err := f.mgr.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("swarm: list nodes: %w", err)
	}
	for _, n := range nodes {
		keys := slices.Sorted(maps.Keys(n.Spec.Labels))
		var l []string
		for _, k := range keys {
			l = append(l, k+"="+n.Spec.Labels[k])
		}
		out = append(out, fmt.Sprintf("node %s role=%s availability=%s labels=%s", n.ID, n.Spec.Role, n.Spec.Availability, strings.Join(l, ",")))
	}
	svcs, err := f.mgr.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		return nil, fmt.Errorf("swarm: list services: %w", err)
	}
	for _, s := range svcs {
		if !ours(s.Spec.Labels) {
			out = append(out, fmt.Sprintf("service %s %s version=%d", s.ID, s.Spec.Name, s.Version.Index))
		}
	}
	f.mu.Lock()
	ids := slices.Sorted(maps.Keys(f.engines))
	engines := make([]*client.Client, len(ids))
	for i, id := range ids {
		engines[i] = f.engines[id]
	}
	f.mu.Unlock()
	for i, eng := range engines {
		lines, err := foreignOn(ctx, eng, ours)
		if err != nil {
			return nil, fmt.Errorf("swarm: node %s: %w", ids[i], err)
		}
		for _, l := range lines {
			out = append(out, "on "+ids[i]+": "+l)
		}
	}
	slices.Sort(out)
	return out, nil
}

func foreignOn(ctx context.Context, cli *client.Client, ours func(map[string]string) bool) ([]string, error) {
	var out []string
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		// The classic builder's step containers are nobody's objects.
		if !ours(c.Labels) && !strings.Contains(c.Command, "#(nop) ") {
			out = append(out, fmt.Sprintf("container %s %s image=%s state=%s", c.ID[:12], strings.Join(c.Names, ","), c.ImageID, c.State))
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if !ours(n.Labels) {
			out = append(out, fmt.Sprintf("network %s %s driver=%s", n.ID[:12], n.Name, n.Driver))
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, v := range vs.Volumes {
		if v != nil && !ours(v.Labels) {
			out = append(out, fmt.Sprintf("volume %s driver=%s", v.Name, v.Driver))
		}
	}
	is, err := cli.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	for _, im := range is {
		if !ours(im.Labels) {
			tags := slices.Clone(im.RepoTags)
			slices.Sort(tags)
			out = append(out, fmt.Sprintf("image %s tags=%s", im.ID, strings.Join(tags, ",")))
		}
	}
	return out, nil
}

// Addressed reports whether this fleet asked for a change to the object of
// a Foreign line: it never addresses an object without our label, so
// every foreign object that went or changed during a run counts (the
// lab's engines are nobody else's).
func (f *Fleet) Addressed(line string) bool { return false }
