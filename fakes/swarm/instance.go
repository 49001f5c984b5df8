package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Labels of this fleet on top of the Docker fleet's.
const (
	// LabelBoot names the start a task's container is (its agent reports
	// as that boot): a new one at every service update of ours.
	LabelBoot = "osupgrade.boot"
	// LabelFaults holds, on the service (not its tasks: changing it starts
	// nothing), the instance's agent fault switches as JSON, for a fleet
	// object made again.
	LabelFaults = "osupgrade.faults"
	// LabelNode is the node an instance is pinned to.
	LabelNode = "osupgrade.node"
)

// ensureImage builds the version's OS image on the manager when a node
// lacks it and loads it on every node that lacks it (save on the manager,
// load on the node: no registry).
func (f *Fleet) ensureImage(ctx context.Context, img plan.Image) (string, error) {
	f.mu.Lock()
	bad := f.bad[img.Version]
	f.mu.Unlock()
	tag := f.images.Tag(img, bad)
	f.builds.Lock()
	defer f.builds.Unlock()
	f.mu.Lock()
	done := f.built[tag]
	f.mu.Unlock()
	if done {
		return tag, nil
	}
	start := time.Now()
	if _, err := f.mgr.ImageInspect(ctx, tag); errdefs.IsNotFound(err) {
		buildCtx, err := f.images.Context(img, bad)
		if err != nil {
			return "", err
		}
		resp, err := f.mgr.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{Tags: []string{tag}, Labels: f.images.Labels(img, bad), Remove: true, ForceRemove: true, SuppressOutput: true})
		if err != nil {
			return "", fmt.Errorf("swarm: build image %s for %s: %w", tag, img, err)
		}
		err = buildErr(resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("swarm: build image %s for %s: %w", tag, img, err)
		}
	} else if err != nil {
		return "", fmt.Errorf("swarm: inspect image %s: %w", tag, err)
	}
	f.mu.Lock()
	engines := make(map[string]*client.Client, len(f.engines))
	for id, c := range f.engines {
		engines[id] = c
	}
	f.mu.Unlock()
	for id, c := range engines {
		if _, err := c.ImageInspect(ctx, tag); err == nil {
			continue
		}
		rc, err := f.mgr.ImageSave(ctx, []string{tag})
		if err != nil {
			return "", fmt.Errorf("swarm: save image %s: %w", tag, err)
		}
		resp, err := c.ImageLoad(ctx, rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("swarm: load image %s on node %s: %w", tag, id, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	f.logf("OS image %s for %s on %d nodes in %s", tag, img, len(engines), time.Since(start).Round(time.Millisecond))
	f.mu.Lock()
	f.built[tag] = true
	f.mu.Unlock()
	return tag, nil
}

// buildErr reads a build's output stream: a failed build is an
// {"error": ...} in it, not an error of the call.
func buildErr(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read output: %w", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("%s", msg.Error)
		}
	}
}

// PrepareImage builds and distributes the version's OS image now
// (harness.ImagePreparer).
func (f *Fleet) PrepareImage(ctx context.Context, img plan.Image) error {
	_, err := f.ensureImage(ctx, img)
	return err
}

// CreateScaleSet creates the set's overlay network and one service per
// instance, pinned to a node of the instance's zone, and waits until every
// instance is provisioned; then writes each data disk's initial data.
func (f *Fleet) CreateScaleSet(ctx context.Context, model orchestrator.ScaleSet, version string) error {
	f.mu.Lock()
	if _, ok := f.sets[model.Name]; ok {
		f.mu.Unlock()
		return fmt.Errorf("swarm: %w: %s", orchestrator.ErrExists, model.Name)
	}
	s := &scaleSet{model: model, network: f.networkName(model.Name), inst: make([]switches, model.Capacity), placed: make([]string, model.Capacity)}
	for i := range s.placed {
		n, err := f.place(model, i)
		if err != nil {
			f.mu.Unlock()
			return err
		}
		s.placed[i] = n
	}
	f.sets[model.Name] = s
	f.mu.Unlock()
	fail := func(err error) error {
		f.mu.Lock()
		delete(f.sets, model.Name)
		f.mu.Unlock()
		return err
	}
	start := time.Now()
	img := plan.Image{Ref: model.Image.Ref(), Version: version}
	tag, err := f.ensureImage(ctx, img)
	if err != nil {
		return fail(err)
	}
	if _, err := f.mgr.NetworkCreate(ctx, s.network, network.CreateOptions{Driver: "overlay", Attachable: true, Labels: f.runLabels(model.Name)}); err != nil {
		return fail(fmt.Errorf("swarm: create network %s: %w", s.network, err))
	}
	f.putPayloads(model)
	f.logf("creating %d services of %s on %s", model.Capacity, model.Name, img)
	err = f.parallel(ctx, model.Capacity, func(ctx context.Context, i int) error {
		spec, err := f.serviceSpec(s, i, tag, img, time.Time{})
		if err != nil {
			return err
		}
		if _, err := f.mgr.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{}); err != nil {
			return fmt.Errorf("swarm: create service %s: %w", spec.Name, err)
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("swarm: create scale set %s: %w", model.Name, err))
	}
	if err := f.waitProvisioned(ctx, model.Name, 5*time.Minute); err != nil {
		return fail(err)
	}
	if model.DataDisks > 0 {
		err := f.parallel(ctx, model.Capacity, func(ctx context.Context, i int) error {
			return f.WriteData(ctx, model.Name, i, "seed", f.initialData(model.Name, i))
		})
		if err != nil {
			return fail(fmt.Errorf("swarm: initial data of %s: %w", model.Name, err))
		}
	}
	f.logf("%s: %d instances up in %s", model.Name, model.Capacity, time.Since(start).Round(time.Millisecond))
	return nil
}

// waitProvisioned observes a set until every instance runs with its
// provisioning settled.
func (f *Fleet) waitProvisioned(ctx context.Context, set string, limit time.Duration) error {
	timeout := time.After(limit)
	for {
		obs, err := f.Observe(ctx, set)
		if err != nil {
			return err
		}
		pending := 0
		for i := range obs {
			if !obs[i].Running || obs[i].Provisioning == plan.ProvisioningUpdating {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("swarm: %d instances of %s still booting after %s", pending, set, limit)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// putPayloads stores each extension's blob, as the Docker fleet does.
func (f *Fleet) putPayloads(model orchestrator.ScaleSet) {
	for _, e := range model.Extensions {
		body := make([]byte, fault.ExtensionPayload)
		n := copy(body, fmt.Sprintf("#!/bin/sh\n# payload of extension %s of scale set %s\n", e.Name, model.Name))
		for i := n; i < len(body); i++ {
			body[i] = '#'
		}
		f.store.Put("extensions", f.payloadBlob(model.Name, e.Name), body)
	}
}

func (f *Fleet) payloadBlob(set, ext string) string { return f.runID + "/" + set + "/" + ext }

// serviceSpec is instance id's service on OS image tag: one replica pinned
// to its node, its data volumes, the agent's config for a new boot in the
// environment, no restart by the swarm (a VM that crashed stays down until
// the platform acts), updates stop-first (the data volume is one node's,
// and one instance runs at most once).
func (f *Fleet) serviceSpec(s *scaleSet, id int, tag string, img plan.Image, bootFrom time.Time) (swarm.ServiceSpec, error) {
	m := f.model(s)
	f.mu.Lock()
	nodeID := s.placed[id]
	f.mu.Unlock()
	zone, ud := m.Placement(id)
	boot := docker.NewBoot()
	f.reports.Expect(m.Name, id, boot)
	cfg, err := f.configFile(s, id, img.Version, bootFrom, boot)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	labels := f.runLabels(m.Name)
	labels[docker.LabelInstance] = strconv.Itoa(id)
	labels[docker.LabelZone] = zone
	labels[docker.LabelUpdateDomain] = strconv.Itoa(ud)
	labels[docker.LabelVersion] = img.Version
	labels[docker.LabelImageRef] = img.Ref
	labels[LabelNode] = nodeID
	cl := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		cl[k] = v
	}
	cl[LabelBoot] = boot
	var mounts []mount.Mount
	for d := 0; d < m.DataDisks; d++ {
		vl := f.runLabels(m.Name)
		vl[docker.LabelInstance] = strconv.Itoa(id)
		vl[docker.LabelDisk] = strconv.Itoa(d)
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: f.volumeName(m.Name, id, d), Target: diskPath(d), VolumeOptions: &mount.VolumeOptions{Labels: vl}})
	}
	hostname := unsafeName.ReplaceAllString(m.Name, "-")
	if len(hostname) > 50 {
		hostname = hostname[:50]
	}
	grace := 2 * time.Second
	replicas := uint64(1)
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: f.serviceName(m.Name, id), Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image: tag, Labels: cl, Hostname: hostname + "-" + strconv.Itoa(id),
				Env: []string{agent.ConfigEnv + "=" + string(cfg)}, Mounts: mounts,
				StopSignal: "SIGTERM", StopGracePeriod: &grace,
			},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: 128 << 20}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone},
			Placement:     &swarm.Placement{Constraints: []string{"node.id==" + nodeID}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: s.network}},
			LogDriver:     &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "256k", "max-file": "1"}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStopFirst, FailureAction: swarm.UpdateFailureActionContinue},
	}, nil
}

// noExpiry is the expiry of the SAS of an extension whose model gives none.
var noExpiry = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// configFile is the agent's config for one boot (docker's configFile).
func (f *Fleet) configFile(s *scaleSet, id int, version string, bootFrom time.Time, boot string) ([]byte, error) {
	f.mu.Lock()
	m := s.model
	faults := s.inst[id].agentFaults(version)
	f.mu.Unlock()
	report := &agent.Report{URL: f.base + docker.ReportPath, Token: f.reports.Token(m.Name, id), Boot: boot, Heartbeat: docker.Heartbeat(m.Capacity, f.scale)}
	cfg := agent.Config{Set: m.Name, Instance: id, TimeScale: f.scale, Model: m, Faults: faults, BootFrom: bootFrom, Report: report}
	for _, e := range m.Extensions {
		expiry := e.SASExpiresAt
		if expiry.IsZero() {
			expiry = noExpiry
		}
		q, err := f.store.SAS("extensions", f.payloadBlob(m.Name, e.Name), expiry)
		if err != nil {
			return nil, err
		}
		if cfg.ExtensionURLs == nil {
			cfg.ExtensionURLs = map[string]string{}
		}
		cfg.ExtensionURLs[e.Name] = f.store.BlobURL(f.base, "extensions", f.payloadBlob(m.Name, e.Name), q)
	}
	return json.Marshal(cfg)
}

// UpdateModel takes a new model for later boots; running agents keep
// theirs, as a VM takes a model change on its next reimage.
func (f *Fleet) UpdateModel(ctx context.Context, model orchestrator.ScaleSet) error {
	s, err := f.set(model.Name)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if model.Capacity != len(s.inst) {
		return fmt.Errorf("swarm: scale set %s has %d instances, the model %d", model.Name, len(s.inst), model.Capacity)
	}
	s.model = model
	f.putPayloads(model)
	return nil
}

// DeleteScaleSet removes the set's services, then its volumes on every
// node and its network.
func (f *Fleet) DeleteScaleSet(ctx context.Context, name string) error {
	f.mu.Lock()
	delete(f.sets, name)
	f.mu.Unlock()
	f.reports.ForgetSet(name)
	return f.remove(ctx, name)
}

// Reimage updates the instance's service to image with a new boot: the
// swarm stops the task and starts a new container on the same node with
// the same named volumes (R-UPG-1). A rollback is a reimage to the
// previous version.
func (f *Fleet) Reimage(ctx context.Context, set string, id int, img plan.Image) error {
	s, err := f.set(set)
	if err != nil {
		return err
	}
	if id < 0 || id >= len(s.inst) {
		return fmt.Errorf("swarm: scale set %s has no instance %d", set, id)
	}
	bootFrom := time.Now()
	tag, err := f.ensureImage(ctx, img)
	if err != nil {
		return err
	}
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-f.sem }()
	m := f.model(s)
	zone, ud := m.Placement(id)
	f.reimaged(set, plan.Instance{ID: id, Zone: zone, UpdateDomain: ud, Version: img.Version, Provisioning: plan.ProvisioningUpdating, Health: plan.HealthUnknown})
	return f.redeploy(ctx, s, id, tag, img, bootFrom)
}

// redeploy updates instance id's service to a new boot on tag.
func (f *Fleet) redeploy(ctx context.Context, s *scaleSet, id int, tag string, img plan.Image, bootFrom time.Time) error {
	name := f.serviceName(s.model.Name, id)
	svc, _, err := f.mgr.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("swarm: inspect service %s: %w", name, err)
	}
	spec, err := f.serviceSpec(s, id, tag, img, bootFrom)
	if err != nil {
		return err
	}
	spec.Labels[LabelFaults] = svc.Spec.Labels[LabelFaults]
	if _, err := f.mgr.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{}); err != nil {
		return fmt.Errorf("swarm: update service %s to %s: %w", name, img, err)
	}
	return nil
}

// newest finds the newest task of a service.
func newest(tasks []swarm.Task) *swarm.Task {
	var best *swarm.Task
	for i := range tasks {
		if best == nil || tasks[i].Meta.CreatedAt.After(best.Meta.CreatedAt) {
			best = &tasks[i]
		}
	}
	return best
}

// container is the task's container ID on its node ("" when it has none
// yet).
func containerOf(t *swarm.Task) string {
	if t == nil || t.Status.ContainerStatus == nil {
		return ""
	}
	return t.Status.ContainerStatus.ContainerID
}

// instanceTask finds the newest task of instance id's service.
func (f *Fleet) instanceTask(ctx context.Context, set string, id int) (*swarm.Task, error) {
	name := f.serviceName(set, id)
	tasks, err := f.mgr.TaskList(ctx, swarm.TaskListOptions{Filters: filtersService(name)})
	if err != nil {
		return nil, fmt.Errorf("swarm: tasks of %s: %w", name, err)
	}
	t := newest(tasks)
	if t == nil {
		return nil, fmt.Errorf("swarm: %s/%d has no task", set, id)
	}
	return t, nil
}

// taskContainer is the node engine and container of instance id's newest
// task.
func (f *Fleet) taskContainer(ctx context.Context, set string, id int) (*client.Client, string, *swarm.Task, error) {
	t, err := f.instanceTask(ctx, set, id)
	if err != nil {
		return nil, "", nil, err
	}
	c, err := f.engine(t.NodeID)
	if err != nil {
		return nil, "", nil, err
	}
	cid := containerOf(t)
	if cid == "" {
		return nil, "", t, fmt.Errorf("swarm: %s/%d's task %s has no container yet (%s)", set, id, t.ID, t.Status.State)
	}
	return c, cid, t, nil
}

// containerIP is the container's address on its node's docker_gwbridge:
// the one the host reaches (through the node) for the agent's control
// calls; "" when it has none.
func (f *Fleet) containerIP(ctx context.Context, c *client.Client, containerID string) string {
	nw, err := c.NetworkInspect(ctx, "docker_gwbridge", network.InspectOptions{})
	if err != nil {
		return ""
	}
	if ep, ok := nw.Containers[containerID]; ok {
		ip, _, _ := strings.Cut(ep.IPv4Address, "/")
		return ip
	}
	return ""
}

// containerState is the state of a container on a node ("" when gone).
func containerState(ctx context.Context, c *client.Client, id string) string {
	ins, err := c.ContainerInspect(ctx, id)
	if err != nil || ins.State == nil {
		return ""
	}
	return string(ins.State.Status)
}
