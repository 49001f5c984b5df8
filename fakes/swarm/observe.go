package swarm

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

func filtersService(names ...string) filters.Args {
	a := filters.NewArgs()
	for _, n := range names {
		a.Add("service", n)
	}
	return a
}

// Observe reports every instance of the set from two listings of the
// manager (the set's services, their tasks) and what the agents pushed to
// the collector:
//   - Version: the service's, from the moment a reimage updated it (the
//     OS disk being replaced is the new one).
//   - The task of the service's current boot: none yet, or not yet
//     running: booting (Updating, not running). Running: the agent's last
//     report of that boot if one came within the staleness bound, else
//     what it last said with health Unknown (paused, cut off, hung; a
//     probe says Unhealthy). Ended (killed, stopped, crashed: the swarm
//     does not restart a task of ours): not running, provisioning as last
//     reported.
//   - Health by mode as on the Docker fleet; probe probes the app at the
//     task's address on its node's docker_gwbridge.
func (f *Fleet) Observe(ctx context.Context, set string) ([]plan.Instance, error) {
	s, err := f.set(set)
	if err != nil {
		return nil, err
	}
	m := f.model(s)
	at := f.clock.Now()
	svcs, err := f.mgr.ServiceList(ctx, swarm.ServiceListOptions{Filters: f.runFilter(set)})
	if err != nil {
		return nil, fmt.Errorf("swarm: observe %s: %w", set, err)
	}
	byID := make([]*swarm.Service, m.Capacity)
	names := make([]string, 0, len(svcs))
	for i := range svcs {
		id, err := strconv.Atoi(svcs[i].Spec.Labels[docker.LabelInstance])
		if err == nil && id >= 0 && id < len(byID) {
			byID[id] = &svcs[i]
			names = append(names, svcs[i].ID)
		}
	}
	tasksOf := map[string][]swarm.Task{}
	if len(names) > 0 {
		tasks, err := f.mgr.TaskList(ctx, swarm.TaskListOptions{Filters: filtersService(names...)})
		if err != nil {
			return nil, fmt.Errorf("swarm: observe %s: tasks: %w", set, err)
		}
		for _, t := range tasks {
			tasksOf[t.ServiceID] = append(tasksOf[t.ServiceID], t)
		}
	}
	var ips map[string]string
	if m.Health == plan.HealthProbe {
		ips = f.gwbridgeIPs(ctx)
	}
	out := make([]plan.Instance, m.Capacity)
	for i := range out {
		out[i] = f.observeOne(ctx, &m, i, byID[i], tasksOf, ips)
	}
	f.observed(set, at, out)
	return out, nil
}

func (f *Fleet) observeOne(ctx context.Context, m *orchestrator.ScaleSet, i int, svc *swarm.Service, tasksOf map[string][]swarm.Task, ips map[string]string) plan.Instance {
	zone, ud := m.Placement(i)
	in := plan.Instance{ID: i, Zone: zone, UpdateDomain: ud, Health: plan.HealthUnknown}
	if svc == nil {
		in.Provisioning = plan.ProvisioningFailed // lost: I-3 will say so
		return in
	}
	in.Version = svc.Spec.Labels[docker.LabelVersion]
	if z, ok := svc.Spec.Labels[docker.LabelZone]; ok {
		in.Zone = z
	}
	if u, err := strconv.Atoi(svc.Spec.Labels[docker.LabelUpdateDomain]); err == nil {
		in.UpdateDomain = u
	}
	boot := ""
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		boot = cs.Labels[LabelBoot]
	}
	var cur []swarm.Task
	for _, t := range tasksOf[svc.ID] {
		if t.Spec.ContainerSpec != nil && t.Spec.ContainerSpec.Labels[LabelBoot] == boot {
			cur = append(cur, t)
		}
	}
	t := newest(cur)
	in.Provisioning = plan.ProvisioningUpdating
	if t == nil {
		return in // the update has not made its task yet: booting
	}
	st, heardAt, ok, _ := f.reports.Latest(m.Name, i)
	ok = ok && st.Image.Version == in.Version
	switch t.Status.State {
	case swarm.TaskStateRunning:
		if !ok {
			return in // started, its agent not heard yet: booting
		}
		in.Running, in.Provisioning = st.Booted, st.Provisioning
		if !st.Booted {
			return in
		}
		if !f.reports.Fresh(heardAt, m.Capacity, f.scale) {
			// Paused, cut off or hung: what it last said, no health.
			if m.Health == plan.HealthProbe {
				in.Health = plan.HealthUnhealthy
			}
			return in
		}
		switch m.Health {
		case plan.HealthExtension:
			in.Health = st.Health
		case plan.HealthProbe:
			in.Health = f.probeApp(ctx, ips[containerOf(t)], m.AppHealth)
		default:
			in.Health = noneHealth(st.Provisioning)
		}
	case swarm.TaskStateFailed, swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateRejected, swarm.TaskStateOrphaned, swarm.TaskStateRemove:
		if ok {
			in.Provisioning = st.Provisioning
		}
	}
	return in
}

// noneHealth is R-HEALTH-2.
func noneHealth(p plan.Provisioning) plan.Health {
	switch p {
	case plan.ProvisioningSucceeded:
		return plan.HealthHealthy
	case plan.ProvisioningFailed:
		return plan.HealthUnhealthy
	}
	return plan.HealthUnknown
}

// gwbridgeIPs maps every container on every node's docker_gwbridge to its
// address there.
func (f *Fleet) gwbridgeIPs(ctx context.Context) map[string]string {
	f.mu.Lock()
	engines := make([]interface {
		NetworkInspect(context.Context, string, network.InspectOptions) (network.Inspect, error)
	}, 0, len(f.engines))
	for _, c := range f.engines {
		engines = append(engines, c)
	}
	f.mu.Unlock()
	out := map[string]string{}
	for _, c := range engines {
		nw, err := c.NetworkInspect(ctx, "docker_gwbridge", network.InspectOptions{})
		if err != nil {
			continue
		}
		for id, ep := range nw.Containers {
			ip, _, _ := strings.Cut(ep.IPv4Address, "/")
			out[id] = ip
		}
	}
	return out
}

const probeTimeout = 500 * time.Millisecond

var probeClient = &http.Client{Timeout: probeTimeout, Transport: &http.Transport{
	DisableKeepAlives: true,
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the app's certificate is self-signed
}}

// probeApp is the load balancer's probe of the app port (the Docker
// fleet's).
func (f *Fleet) probeApp(ctx context.Context, ip string, h orchestrator.AppHealth) plan.Health {
	if ip == "" {
		return plan.HealthUnhealthy
	}
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
	resp, err := probeClient.Do(req)
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
