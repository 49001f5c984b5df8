package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// extensionsContainer is the storage container extension payloads live in.
const extensionsContainer = "extensions"

// CreateScaleSet creates the set's network, one volume per data disk per
// instance (seeded with the instance's initial data) and one container per
// instance on version, and starts them. Instances boot like any other:
// Observe shows them running once their agent has booted.
func (f *Fleet) CreateScaleSet(ctx context.Context, model orchestrator.ScaleSet, version string) error {
	f.mu.Lock()
	if _, ok := f.sets[model.Name]; ok {
		f.mu.Unlock()
		return fmt.Errorf("docker: %w: %s", orchestrator.ErrExists, model.Name)
	}
	s := &scaleSet{model: model, network: f.networkName(model.Name), inst: make([]switches, model.Capacity)}
	f.sets[model.Name] = s
	f.mu.Unlock()
	fail := func(err error) error {
		f.mu.Lock()
		delete(f.sets, model.Name)
		f.mu.Unlock()
		if s.srv != nil {
			s.srv.Close()
		}
		return err
	}
	start := time.Now()
	img := plan.Image{Ref: model.Image.Ref(), Version: version}
	tag, err := f.ensureImage(ctx, img)
	if err != nil {
		return fail(err)
	}
	resp, err := f.cli.NetworkCreate(ctx, s.network, network.CreateOptions{Driver: "bridge", Labels: f.runLabels(model.Name)})
	if err != nil {
		return fail(fmt.Errorf("docker: create network %s: %w", s.network, err))
	}
	nw, err := f.cli.NetworkInspect(ctx, resp.ID, network.InspectOptions{})
	if err != nil {
		return fail(fmt.Errorf("docker: inspect network %s: %w", s.network, err))
	}
	for _, c := range nw.IPAM.Config {
		if c.Gateway != "" {
			s.gateway = c.Gateway
			break
		}
	}
	if s.gateway == "" {
		return fail(fmt.Errorf("docker: network %s has no gateway address", s.network))
	}
	if err := f.serveStorage(s); err != nil {
		return fail(err)
	}
	f.putPayloads(model)
	f.logf("creating %d instances of %s on %s", model.Capacity, model.Name, img)
	var done int
	var mu sync.Mutex
	err = f.parallel(ctx, model.Capacity, func(ctx context.Context, i int) error {
		if err := f.retry(ctx, func() error { return f.createInstance(ctx, s, i, tag, img, true, time.Time{}) }); err != nil {
			return fmt.Errorf("instance %d: %w", i, err)
		}
		mu.Lock()
		done++
		if n := model.Capacity; n >= 20 && done%(n/10) == 0 {
			f.logf("%s: %d/%d instances started", model.Name, done, n)
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("docker: create scale set %s: %w", model.Name, err))
	}
	// Like a scale set's creation, this ends when the instances are
	// provisioned: booted, their extensions run.
	if err := f.waitProvisioned(ctx, model.Name, bootWait); err != nil {
		return fail(err)
	}
	f.logf("%s: %d instances up in %s", model.Name, model.Capacity, time.Since(start).Round(time.Millisecond))
	return nil
}

// bootWait bounds, in wall time, how long a new scale set may take to boot.
const bootWait = 3 * time.Minute

// waitProvisioned polls a set until every instance runs with its
// provisioning settled (Succeeded or Failed).
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
			return fmt.Errorf("docker: %d instances of %s still booting after %s", pending, set, limit)
		case <-time.After(provisionPoll(len(obs))):
		}
	}
}

// provisionPoll is the pause between observations of a booting set: every
// observation asks each agent, and at 200 agents back-to-back observations
// kept the machine busy answering instead of booting them.
func provisionPoll(n int) time.Duration {
	return min(100*time.Millisecond+time.Duration(n)*5*time.Millisecond, 2*time.Second)
}

// putPayloads stores the blob each of the model's extensions downloads at
// boot: fault.ExtensionPayload bytes, as on the sim, so that a slow link
// costs a boot the same scenario time on both fleets.
func (f *Fleet) putPayloads(model orchestrator.ScaleSet) {
	for _, e := range model.Extensions {
		body := make([]byte, fault.ExtensionPayload)
		n := copy(body, fmt.Sprintf("#!/bin/sh\n# payload of extension %s of scale set %s\n", e.Name, model.Name))
		for i := n; i < len(body); i++ {
			body[i] = '#'
		}
		f.store.Put(extensionsContainer, f.payloadBlob(model.Name, e.Name), body)
	}
}

func (f *Fleet) payloadBlob(set, ext string) string { return f.runID + "/" + set + "/" + ext }

// UpdateModel takes a new model for later boots, as a VM takes a model
// change on its next reimage (R-CRED-1's recovery renews tokens this way).
// Every container's config is rewritten so that a reattached fleet reads the
// current model back; running agents do not reread it.
func (f *Fleet) UpdateModel(ctx context.Context, model orchestrator.ScaleSet) error {
	s, err := f.set(model.Name)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if model.Capacity != len(s.inst) {
		f.mu.Unlock()
		return fmt.Errorf("docker: scale set %s has %d instances, the model %d", model.Name, len(s.inst), model.Capacity)
	}
	s.model = model
	f.mu.Unlock()
	f.putPayloads(model)
	return f.parallel(ctx, model.Capacity, func(ctx context.Context, i int) error {
		c, ok, err := f.instanceContainer(ctx, model.Name, i)
		if err != nil || !ok {
			return err
		}
		if err := f.writeConfig(ctx, s, i, c.ID, c.Labels[LabelVersion]); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		return nil
	})
}

// DeleteScaleSet removes the set's containers, volumes and network.
func (f *Fleet) DeleteScaleSet(ctx context.Context, name string) error {
	f.mu.Lock()
	s := f.sets[name]
	delete(f.sets, name)
	f.mu.Unlock()
	if s != nil && s.srv != nil {
		s.srv.Close()
	}
	f.reports.forgetSet(name)
	f.lists.forget(name)
	return f.remove(ctx, name)
}

// Reimage replaces the instance's container with one from image: same
// name, network and data volumes; a new writable layer, so custom data and
// extensions run again (R-UPG-1). A rollback is a reimage to the previous
// version. Transient engine errors are retried; a permanent one fails this
// instance only, with the engine's message.
func (f *Fleet) Reimage(ctx context.Context, set string, id int, image plan.Image) error {
	s, err := f.set(set)
	if err != nil {
		return err
	}
	if id < 0 || id >= len(s.inst) {
		return fmt.Errorf("docker: scale set %s has no instance %d", set, id)
	}
	// The boot counts from now, as on the sim: the engine's work (removing
	// the old container, creating the new one) is part of it.
	bootFrom := time.Now()
	tag, err := f.ensureImage(ctx, image)
	if err != nil {
		return err
	}
	return f.retry(ctx, func() error {
		select {
		case f.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-f.sem }()
		old, ok, err := f.instanceContainer(ctx, set, id)
		if err != nil {
			return err
		}
		// The journal hears of the new OS disk before the old container
		// goes: no observation can show the new container first.
		m := f.model(s)
		zone, ud := m.Placement(id)
		f.reimaged(set, plan.Instance{ID: id, Zone: zone, UpdateDomain: ud, Version: image.Version, Provisioning: plan.ProvisioningUpdating, Health: plan.HealthUnknown})
		f.setReplacing(set, id, image.Version)
		defer f.setReplacing(set, id, "")
		if ok {
			if err := f.cli.ContainerRemove(ctx, old.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("docker: remove %s/%d: %w", set, id, err)
			}
			f.forget(old.ID)
		}
		return f.createInstance(ctx, s, id, tag, image, false, bootFrom)
	})
}

// setReplacing records (version != "") or clears the version an instance
// is being reimaged to.
func (f *Fleet) setReplacing(set string, id int, version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("%s/%d", set, id)
	if version == "" {
		delete(f.replacing, key)
		return
	}
	if f.replacing == nil {
		f.replacing = map[string]string{}
	}
	f.replacing[key] = version
}

func (f *Fleet) replacedVersion(set string, id int) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.replacing[fmt.Sprintf("%s/%d", set, id)]
	return v, ok
}

// createInstance creates and starts (unless it is down) one instance's
// container; with seed, it first creates the data volumes and writes the
// initial data. The caller holds a concurrency slot or runs under parallel.
func (f *Fleet) createInstance(ctx context.Context, s *scaleSet, id int, tag string, img plan.Image, seed bool, bootFrom time.Time) error {
	m := f.model(s)
	name := f.containerName(m.Name, id)
	zone, ud := m.Placement(id)
	labels := f.runLabels(m.Name)
	labels[LabelInstance] = strconv.Itoa(id)
	labels[LabelZone] = zone
	labels[LabelUpdateDomain] = strconv.Itoa(ud)
	labels[LabelVersion] = img.Version
	labels[LabelImageRef] = img.Ref
	var mounts []mount.Mount
	for d := 0; d < m.DataDisks; d++ {
		vol := f.volumeName(m.Name, id, d)
		if seed {
			vl := f.runLabels(m.Name)
			vl[LabelInstance] = strconv.Itoa(id)
			vl[LabelDisk] = strconv.Itoa(d)
			if _, err := f.cli.VolumeCreate(ctx, volume.CreateOptions{Name: vol, Labels: vl}); err != nil {
				return fmt.Errorf("docker: create volume %s: %w", vol, err)
			}
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: vol, Target: diskPath(d)})
	}
	stopTimeout := 2
	hostname := unsafeName.ReplaceAllString(m.Name, "-")
	if len(hostname) > 50 {
		hostname = hostname[:50]
	}
	// The first start's config goes in the environment, not through the
	// archive API (see agent.ConfigEnv).
	files, linkWait, err := f.bootFiles(s, id, img.Version, bootFrom)
	if err != nil {
		return err
	}
	cfg := files[agent.ConfigPath]
	create := func() (container.CreateResponse, error) {
		return f.cli.ContainerCreate(ctx,
			&container.Config{Image: tag, Hostname: hostname + "-" + strconv.Itoa(id), Labels: labels, Env: []string{agent.ConfigEnv + "=" + string(cfg)}, StopSignal: "SIGTERM", StopTimeout: &stopTimeout},
			&container.HostConfig{
				NetworkMode: container.NetworkMode(s.network),
				Mounts:      mounts,
				LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "256k", "max-file": "1"}},
				Resources:   container.Resources{Memory: 128 << 20},
			},
			&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.network: {}}},
			nil, name)
	}
	created, err := create()
	if errdefs.IsConflict(err) && seed {
		// Our own leftover of an attempt that failed half-way: replace it.
		// A foreign container of that name is never removed.
		if old, ok, lerr := f.instanceContainer(ctx, m.Name, id); lerr == nil && ok {
			if rerr := f.cli.ContainerRemove(ctx, old.ID, container.RemoveOptions{Force: true}); rerr == nil {
				created, err = create()
			}
		}
	}
	if errdefs.IsNotFound(err) {
		f.imagePresent(tag, false) // removed behind our back: built again on the next try
	}
	if err != nil {
		return fmt.Errorf("docker: create container %s: %w", name, err)
	}
	if seed && m.DataDisks > 0 {
		// A new data disk's initial data.
		if err := f.copyFiles(ctx, created.ID, map[string][]byte{path.Join(DataDir, "seed"): f.initialData(m.Name, id)}); err != nil {
			return fmt.Errorf("docker: write the data of %s: %w", name, err)
		}
	}
	return f.start(ctx, s, id, created.ID, linkWait)
}

// startInstance writes the current config into the container and starts it
// (a restart on the same OS disk).
func (f *Fleet) startInstance(ctx context.Context, s *scaleSet, id int, containerID, version string) error {
	files, linkWait, err := f.bootFiles(s, id, version, time.Time{})
	if err != nil {
		return err
	}
	if err := f.copyFiles(ctx, containerID, files); err != nil {
		return err
	}
	return f.start(ctx, s, id, containerID, linkWait)
}

// bootFiles are what a start of the container reads: the agent's config
// and, when the start's link gets network faults, an empty link-ready
// file that start fills once they are on (linkWait).
func (f *Fleet) bootFiles(s *scaleSet, id int, version string, bootFrom time.Time) (files map[string][]byte, linkWait bool, err error) {
	f.mu.Lock()
	linkWait = len(s.inst[id].net) > 0
	f.mu.Unlock()
	// A new boot: the collector takes reports of it only, none of the
	// container it replaces or of the start before.
	boot := newBoot()
	f.reports.expect(s.model.Name, id, boot)
	cfg, err := f.configFile(s, id, version, bootFrom, linkWait, boot)
	if err != nil {
		return nil, false, err
	}
	files = map[string][]byte{agent.ConfigPath: cfg}
	if linkWait {
		files[agent.LinkReadyPath] = nil
	}
	return files, linkWait, nil
}

// start starts the container unless a down switch holds it; a paused
// instance is paused again, and the network faults that are on are applied
// to its new link; an agent told to wait for them (linkWait) is told they
// are on.
func (f *Fleet) start(ctx context.Context, s *scaleSet, id int, containerID string, linkWait bool) error {
	f.mu.Lock()
	sw := s.inst[id].clone()
	f.mu.Unlock()
	if sw.down > 0 {
		return nil
	}
	// Until its agent answers, a container this fleet started is booting:
	// no need to read its status file.
	f.remember(containerID, seen{prov: plan.ProvisioningUpdating})
	if err := f.cli.ContainerStart(ctx, containerID, container.StartOptions{}); err != nil {
		return fmt.Errorf("docker: start %s/%d: %w", s.model.Name, id, err)
	}
	for k, nsw := range sw.net {
		f.undoNet(s.model.Name, id, k)
		if err := f.applyNet(ctx, s.model.Name, id, containerID, nsw); err != nil {
			return fmt.Errorf("docker: %s on %s/%d: %w", k, s.model.Name, id, err)
		}
	}
	if linkWait {
		if err := f.copyFiles(ctx, containerID, map[string][]byte{agent.LinkReadyPath: []byte(agent.LinkReady)}); err != nil {
			return fmt.Errorf("docker: tell %s/%d its link is set up: %w", s.model.Name, id, err)
		}
	}
	if sw.pause {
		if err := f.cli.ContainerPause(ctx, containerID); err != nil {
			return fmt.Errorf("docker: pause %s/%d: %w", s.model.Name, id, err)
		}
	}
	return nil
}

// writeConfig copies the agent's config into the container's writable
// layer.
func (f *Fleet) writeConfig(ctx context.Context, s *scaleSet, id int, containerID, version string) error {
	b, err := f.configFile(s, id, version, time.Time{}, false, "")
	if err != nil {
		return err
	}
	return f.copyFiles(ctx, containerID, map[string][]byte{agent.ConfigPath: b})
}

// noExpiry is the expiry of the SAS of an extension whose model gives none.
var noExpiry = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// configFile is the agent's config: the model, fresh SAS URLs for the
// extensions' downloads, the fault switches as they apply to a container
// on version, where to report (push health) and as which boot ("": a
// config read at no start of its own, only by a reattaching fleet).
func (f *Fleet) configFile(s *scaleSet, id int, version string, bootFrom time.Time, linkWait bool, boot string) ([]byte, error) {
	f.mu.Lock()
	m := s.model
	faults := s.inst[id].agentFaults(version)
	base := s.base
	report := f.report(s, id, boot)
	f.mu.Unlock()
	cfg := agent.Config{Set: m.Name, Instance: id, TimeScale: f.scale, Model: m, Faults: faults, BootFrom: bootFrom, LinkFaults: linkWait, Report: report}
	for _, e := range m.Extensions {
		expiry := e.SASExpiresAt
		if expiry.IsZero() {
			expiry = noExpiry // the model sets no expiry: the token outlives any scenario
		}
		q, err := f.store.SAS(extensionsContainer, f.payloadBlob(m.Name, e.Name), expiry)
		if err != nil {
			return nil, err
		}
		if cfg.ExtensionURLs == nil {
			cfg.ExtensionURLs = map[string]string{}
		}
		cfg.ExtensionURLs[e.Name] = f.store.BlobURL(base, extensionsContainer, f.payloadBlob(m.Name, e.Name), q)
	}
	return json.Marshal(cfg)
}

// copyFiles writes files (paths relative to the container's root, data
// volumes included) into a container, running or not, in one call of the
// engine's archive API.
func (f *Fleet) copyFiles(ctx context.Context, containerID string, files map[string][]byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.cli.CopyToContainer(ctx, containerID, "/", &buf, container.CopyToContainerOptions{})
}

func (f *Fleet) model(s *scaleSet) orchestrator.ScaleSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return s.model
}

// initialData is the content instance id's first data disk starts with.
func (f *Fleet) initialData(set string, id int) []byte {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", f.seed, set, id)
	return fmt.Appendf(nil, "initial data of %s/%d: %016x\n", set, id, h.Sum64())
}

// diskPath is where data disk d is mounted: /data, /data1, /data2...
func diskPath(d int) string {
	if d == 0 {
		return "/" + DataDir
	}
	return "/" + DataDir + strconv.Itoa(d)
}

// DataDir is the first data disk's mount point, without the leading slash.
const DataDir = agent.DataDir

// parallel runs fn for 0..n-1 with the fleet's concurrency and returns the
// errors joined.
func (f *Fleet) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	return Parallel(ctx, f.sem, n, fn)
}

// Parallel runs fn for 0..n-1, at most cap(sem) at once (sem is the fleet's
// semaphore, shared with its other work), and returns the errors joined;
// the Swarm fleet bounds its service updates with it too.
func Parallel(ctx context.Context, sem chan struct{}, n int, fn func(ctx context.Context, i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
