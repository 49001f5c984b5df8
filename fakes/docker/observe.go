package docker

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// observeWorkers bounds the agents queried at once by one Observe.
const observeWorkers = 32

// probeTimeout is a load-balancer probe's patience.
const probeTimeout = 500 * time.Millisecond

func newProbeClient() *http.Client {
	return &http.Client{Timeout: probeTimeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the app's certificate is self-signed
	}}
}

// Observe reports every instance of the set: one container list, and what
// each running agent last pushed to the collector (push health; see
// collector.go), an agent unheard for longer than staleAfter counting as
// unreachable; agents that do not push (images of an older osupgrade, or
// Options.PollAgents) are asked in parallel with short timeouts.
//
//   - Running: the container runs and its agent has booted; a paused or
//     unreachable container counts as running if it had booted (it hangs,
//     like a VM that stopped answering).
//   - Provisioning: the agent's report; for a container that cannot answer,
//     the last report seen, read from its writable layer if need be.
//   - Health by mode: extension = the Application Health extension's state
//     as the agent reports it; probe = an HTTP(S) or TCP probe of the app
//     port from the host; none = running with every extension provisioned
//     (R-HEALTH-2). Not running: Unknown; paused or unreachable: Unhealthy
//     to a probe, Unknown otherwise.
func (f *Fleet) Observe(ctx context.Context, set string) ([]plan.Instance, error) {
	s, err := f.set(set)
	if err != nil {
		return nil, err
	}
	m := f.model(s)
	at := f.clock.Now()
	list, ok := f.lists.get(set, time.Now())
	if !ok {
		gen := f.lists.begin()
		list, err = f.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f.runFilter(set, -1)})
		if err != nil {
			return nil, fmt.Errorf("docker: observe %s: %w", set, err)
		}
		f.lists.put(set, gen, time.Now(), list)
	}
	byID := make([]*container.Summary, m.Capacity)
	live := make(map[string]bool, len(list))
	for i := range list {
		live[containerEndpoint(&list[i], s.network)] = true
		id, err := strconv.Atoi(list[i].Labels[LabelInstance])
		if err == nil && id >= 0 && id < len(byID) {
			byID[id] = &list[i]
		}
	}
	f.conns.prune(set, live)
	out := make([]plan.Instance, m.Capacity)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(observeWorkers, m.Capacity); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i] = f.observeOne(ctx, s, &m, i, byID[i])
			}
		}()
	}
	for i := range out {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.observed(set, at, out)
	return out, nil
}

func (f *Fleet) observeOne(ctx context.Context, s *scaleSet, m *orchestrator.ScaleSet, i int, c *container.Summary) plan.Instance {
	zone, ud := m.Placement(i)
	in := plan.Instance{ID: i, Zone: zone, UpdateDomain: ud, Health: plan.HealthUnknown}
	if v, ok := f.replacedVersion(m.Name, i); ok {
		// Being reimaged: the new OS disk, not booted yet, whichever
		// container the listing caught (the old one being removed, none, or
		// the new one before it starts). The journal has heard of the new
		// disk already; the old one must not reappear.
		in.Version, in.Provisioning = v, plan.ProvisioningUpdating
		return in
	}
	if c == nil {
		// Lost: no container at all (I-3 will say so).
		in.Provisioning = plan.ProvisioningFailed
		return in
	}
	in.Version = c.Labels[LabelVersion]
	if z, ok := c.Labels[LabelZone]; ok {
		in.Zone = z
	}
	if u, err := strconv.Atoi(c.Labels[LabelUpdateDomain]); err == nil {
		in.UpdateDomain = u
	}
	switch c.State {
	case container.StateRunning:
		st, ok := f.agentStatus(ctx, s, m, i, c)
		if !ok || st.Image.Version != in.Version {
			// Booting (the agent not listening yet) or unreachable (a
			// network fault, a hang): what it last said, and no health but
			// a failed probe.
			last := f.lastSeen(ctx, c.ID)
			in.Running, in.Provisioning = last.booted, last.prov
			if in.Running && m.Health == plan.HealthProbe {
				in.Health = plan.HealthUnhealthy
			}
			return in
		}
		f.remember(c.ID, seen{booted: st.Booted, prov: st.Provisioning})
		in.Running = st.Booted
		in.Provisioning = st.Provisioning
		if !st.Booted {
			return in
		}
		switch m.Health {
		case plan.HealthExtension:
			in.Health = st.Health
		case plan.HealthProbe:
			in.Health = f.probeApp(ctx, containerIP(c, s.network), m.AppHealth)
		default:
			in.Health = noneHealth(st.Provisioning)
		}
	case container.StatePaused:
		last := f.lastSeen(ctx, c.ID)
		in.Running = last.booted
		in.Provisioning = last.prov
		if in.Running && m.Health == plan.HealthProbe {
			in.Health = plan.HealthUnhealthy
		}
	default:
		in.Provisioning = f.lastSeen(ctx, c.ID).prov
	}
	return in
}

// agentStatus is what the agent of c, a running container of instance id,
// says of itself: when it reports by push, its last report to the
// collector, if one of this boot came within staleAfter; else its answer
// to GET /status (an agent of an image built before push health, or a
// fleet told to poll). ok is false when the agent is not heard: booting
// (not listening or not reporting yet), hung, or cut off.
func (f *Fleet) agentStatus(ctx context.Context, s *scaleSet, m *orchestrator.ScaleSet, id int, c *container.Summary) (st agent.Status, ok bool) {
	if f.pushes(c.Labels) {
		st, at, ok, expected := f.reports.latest(m.Name, id)
		switch {
		case ok && f.reports.now().Sub(at) <= staleAfter(heartbeat(m.Capacity, f.scale)):
			return st, true
		case ok || expected:
			return st, false
		}
		// Started before this fleet object was made (a reattach) and not
		// heard since: its reports may go to an endpoint that moved (its
		// port was taken); asked, it answers for itself.
	}
	st, err := f.conns.client(m.Name, containerEndpoint(c, s.network)).Status(ctx, containerIP(c, s.network))
	return st, err == nil
}

// noneHealth is R-HEALTH-2: with neither probe nor health extension, a
// running instance is healthy when every extension provisioned.
func noneHealth(p plan.Provisioning) plan.Health {
	switch p {
	case plan.ProvisioningSucceeded:
		return plan.HealthHealthy
	case plan.ProvisioningFailed:
		return plan.HealthUnhealthy
	}
	return plan.HealthUnknown
}

func containerIP(c *container.Summary, network string) string {
	if n := endpointOn(c, network); n != nil {
		return n.IPAddress
	}
	return ""
}

// endpointOn is the container's endpoint on the named network, nil if it
// has none.
func endpointOn(c *container.Summary, name string) *network.EndpointSettings {
	if c.NetworkSettings == nil {
		return nil
	}
	return c.NetworkSettings.Networks[name]
}

// probeApp is the load balancer's probe of the app port: HTTP(S) 2xx or a
// TCP connection is Healthy, anything else Unhealthy.
func (f *Fleet) probeApp(ctx context.Context, ip string, h orchestrator.AppHealth) plan.Health {
	port := h.Port
	if port == 0 {
		port = agent.DefaultAppPort
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	proto := h.Protocol
	if proto == "" {
		proto = "http"
	}
	if proto == "tcp" {
		d := net.Dialer{Timeout: probeTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return plan.HealthUnhealthy
		}
		c.Close()
		return plan.HealthHealthy
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, proto+"://"+addr+"/"+strings.TrimPrefix(h.RequestPath, "/"), nil)
	if err != nil {
		return plan.HealthUnhealthy
	}
	resp, err := f.probe.Do(req)
	if err != nil {
		return plan.HealthUnhealthy
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return plan.HealthHealthy
	}
	return plan.HealthUnhealthy
}

func (f *Fleet) remember(containerID string, s seen) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cache[containerID] = s
}

func (f *Fleet) forget(containerID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, containerID)
}

// lastSeen is the last status of a container whose agent cannot answer:
// from memory, else from the status file in its writable layer (a fleet
// object re-created since), else Updating (it never got that far).
func (f *Fleet) lastSeen(ctx context.Context, containerID string) seen {
	f.mu.Lock()
	s, ok := f.cache[containerID]
	f.mu.Unlock()
	if ok {
		return s
	}
	s = seen{prov: plan.ProvisioningUpdating}
	var st agent.Status
	if b, err := f.readFile(ctx, containerID, "/"+agent.StatusPath); err == nil && json.Unmarshal(b, &st) == nil {
		s = seen{booted: st.Booted, prov: st.Provisioning}
	}
	f.remember(containerID, s)
	return s
}

// readFile reads one file out of a container, running or not.
func (f *Fleet) readFile(ctx context.Context, containerID, p string) ([]byte, error) {
	rc, _, err := f.cli.CopyFromContainer(ctx, containerID, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg && path.Base(h.Name) == path.Base(p) {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}

// containerConfig is the config the container's agent runs with: the file
// written before its last start, else the one it was created with.
func (f *Fleet) containerConfig(ctx context.Context, containerID string) (agent.Config, error) {
	var cfg agent.Config
	if b, err := f.readFile(ctx, containerID, "/"+agent.ConfigPath); err == nil {
		return cfg, json.Unmarshal(b, &cfg)
	}
	c, err := f.cli.ContainerInspect(ctx, containerID)
	if err != nil {
		return cfg, err
	}
	if c.Config != nil {
		for _, kv := range c.Config.Env {
			if v, ok := strings.CutPrefix(kv, agent.ConfigEnv+"="); ok {
				return cfg, json.Unmarshal([]byte(v), &cfg)
			}
		}
	}
	return cfg, fmt.Errorf("docker: container %s holds no agent config", containerID)
}
