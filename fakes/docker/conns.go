package docker

import (
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/osupgrade/osupgrade/fakes/agent"
)

// agentConns holds the connections Observe asks agents for their status
// on, kept alive between observations: at N=200 the orchestrator and the
// journal ask about a thousand times a second, and a new TCP connection
// through the bridge for each cost more CPU than answering.
//
// The pools are per network endpoint, which the engine makes anew at every
// start of a container: a connection to an agent that was removed,
// reimaged or restarted would hang until the timeout (its network
// namespace is gone, nothing resets it), so the pool of an endpoint a
// listing no longer shows is closed, and a new endpoint starts afresh even
// at the same address. A connection a partition or a pause holds up times
// out like a new one would.
type agentConns struct {
	mu    sync.Mutex
	pools map[string]*agentPool // by endpoint ID
}

type agentPool struct {
	set       string
	transport *http.Transport
	client    agent.Client
}

func newAgentConns() *agentConns { return &agentConns{pools: map[string]*agentPool{}} }

// client is the status client of the agent behind endpoint (of a container
// of set); "" (no endpoint known) gets a connection of its own.
func (a *agentConns) client(set, endpoint string) agent.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.pools[endpoint]; ok && endpoint != "" {
		return p.client
	}
	t := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	if endpoint == "" {
		t.DisableKeepAlives = true
		return agent.Client{HTTP: &http.Client{Timeout: agentTimeout, Transport: t}}
	}
	p := &agentPool{set: set, transport: t, client: agent.Client{HTTP: &http.Client{Timeout: agentTimeout, Transport: t}}}
	a.pools[endpoint] = p
	return p.client
}

// prune closes the pools of set's endpoints that are not in live.
func (a *agentConns) prune(set string, live map[string]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ep, p := range a.pools {
		if p.set == set && !live[ep] {
			p.transport.CloseIdleConnections()
			delete(a.pools, ep)
		}
	}
}

// closeAll closes every pool (the fleet is closed).
func (a *agentConns) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ep, p := range a.pools {
		p.transport.CloseIdleConnections()
		delete(a.pools, ep)
	}
}

// containerEndpoint is the ID of the container's endpoint on network: new
// at every start.
func containerEndpoint(c *container.Summary, network string) string {
	if n := endpointOn(c, network); n != nil {
		return n.EndpointID
	}
	return ""
}
