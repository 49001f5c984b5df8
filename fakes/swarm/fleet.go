// Package swarm is the fleet of Docker Swarm services standing in for VMs,
// across the nodes of a swarm: one service of one replica per instance,
// pinned at creation to one node of its zone (nodes carry osupgrade.zone) so
// that its named volume, the data disk, stays with it; reimage and rollback
// are service updates of the image (stop-first); observation is the
// manager's task list plus what the agents push to the collector this
// process serves (the Docker fleet's, fakes/docker). The OS images are the
// Docker fleet's, built on the manager and loaded on every node (no
// registry).
//
// It must never change or remove a service, container, volume, network or
// image without osupgrade.owner=osupgrade, nor the swarm itself.
//
// Nodes: each node's spec carries osupgrade.zone=<zone> and
// osupgrade.engine=<the node's own engine, DOCKER_HOST form>; the fleet
// loads images, pauses, kills and stops containers and reads data disks
// through the node's engine (`osupgrade swarm up` labels its nodes so).
package swarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/storage"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
)

var (
	_ orchestrator.Fleet       = (*Fleet)(nil)
	_ orchestrator.Provisioner = (*Fleet)(nil)
	_ fault.Injector           = (*Fleet)(nil)
)

// Node labels the fleet reads.
const (
	NodeZoneLabel   = "osupgrade.zone"
	NodeEngineLabel = "osupgrade.engine"
)

// HostEnv names the manager's engine (DOCKER_HOST form) when
// Options.Host is empty.
const HostEnv = "OSUPGRADE_SWARM_HOST"

// CollectorEnv names the address the agents reach this process at when
// Options.Collector is empty.
const CollectorEnv = "OSUPGRADE_SWARM_COLLECTOR"

// DefaultCollector is the host's address on the bridge of `osupgrade
// swarm up` (internal/swarmlab.HostAddr).
const DefaultCollector = "10.231.0.1"

// ErrEngineUnavailable: the manager does not answer or is not a swarm
// manager.
var ErrEngineUnavailable = errors.New("swarm manager unavailable")

// Options configure a Fleet.
type Options struct {
	// Host is the manager's engine (unix:///… or tcp://…); "": $OSUPGRADE_SWARM_HOST.
	Host string
	// Collector is the IP address of this machine the tasks reach (the
	// agents' reports and the extensions' blobs); "": $OSUPGRADE_SWARM_COLLECTOR,
	// else DefaultCollector.
	Collector string
	// RunID, TimeScale, Clock, Concurrency, Progress, AgentBinary, Seed:
	// as docker.Options.
	RunID       string
	TimeScale   float64
	Clock       docker.PassiveClock
	Concurrency int
	Progress    io.Writer
	AgentBinary string
	Seed        uint64
}

// Fleet is a fleet of swarm services. Safe for concurrent use.
type Fleet struct {
	mgr      *client.Client
	runID    string
	clock    docker.PassiveClock
	scale    float64
	seed     uint64
	sem      chan struct{}
	progress io.Writer
	images   *docker.OSImages
	store    *storage.Server
	reports  *docker.Collector
	agents   agent.Client
	base     string // the endpoint's URL as the tasks reach it
	srv      *http.Server

	mu      sync.Mutex
	nodes   []node
	engines map[string]*client.Client // node ID -> its engine
	sets    map[string]*scaleSet
	bad     map[string]fault.BadKind
	built   map[string]bool // image tags on every node
	builds  sync.Mutex
	watch   *watch
}

type node struct {
	id, zone, engine string
}

type scaleSet struct {
	model   orchestrator.ScaleSet
	network string
	inst    []switches
	placed  []string // node ID of each instance
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// New connects to the manager (API version negotiated), reads the nodes,
// starts the collector and blob endpoint on opts.Collector, and reattaches
// to opts.RunID's services.
func New(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.RunID == "" {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		opts.RunID = hex.EncodeToString(b)
	}
	opts.RunID = unsafeName.ReplaceAllString(opts.RunID, "-")
	if len(opts.RunID) > 40 {
		return nil, fmt.Errorf("swarm: run id %q is longer than 40 characters (service names hold 63)", opts.RunID)
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 60
		if sc, ok := opts.Clock.(*clock.Scaled); ok {
			opts.TimeScale = sc.Scale()
		}
	}
	if opts.Clock == nil {
		opts.Clock = clock.NewScaled(clock.Epoch, opts.TimeScale)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Host == "" {
		opts.Host = os.Getenv(HostEnv)
	}
	if opts.Host == "" {
		return nil, fmt.Errorf("%w: no manager: set %s (or Options.Host) to the manager's engine", ErrEngineUnavailable, HostEnv)
	}
	if opts.Collector == "" {
		opts.Collector = os.Getenv(CollectorEnv)
	}
	if opts.Collector == "" {
		opts.Collector = DefaultCollector
	}
	mgr, err := connect(ctx, opts.Host)
	if err != nil {
		return nil, err
	}
	info, err := mgr.Info(ctx)
	if err != nil || !info.Swarm.ControlAvailable {
		mgr.Close()
		return nil, fmt.Errorf("%w: %s is not a swarm manager (%v)", ErrEngineUnavailable, opts.Host, err)
	}
	images, err := docker.LoadOSImages(ctx, opts.AgentBinary, opts.Progress)
	if err != nil {
		mgr.Close()
		return nil, err
	}
	store, err := storage.NewWithKey("osupgrade", docker.StorageKey(opts.RunID), opts.Clock)
	if err != nil {
		mgr.Close()
		return nil, err
	}
	f := &Fleet{
		mgr: mgr, runID: opts.RunID, clock: opts.Clock, scale: opts.TimeScale, seed: opts.Seed,
		sem: make(chan struct{}, opts.Concurrency), progress: opts.Progress, images: images, store: store,
		reports: docker.NewCollector(opts.RunID),
		agents:  agent.Client{HTTP: &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}},
		engines: map[string]*client.Client{}, sets: map[string]*scaleSet{}, bad: map[string]fault.BadKind{}, built: map[string]bool{},
	}
	if err := f.readNodes(ctx); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.serve(opts.Collector); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.reattach(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func connect(ctx context.Context, host string) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEngineUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrEngineUnavailable, host, err)
	}
	return cli, nil
}

// readNodes lists the swarm's nodes that can take tasks, their zones and
// engines, and connects to each engine.
func (f *Fleet) readNodes(ctx context.Context) error {
	list, err := f.mgr.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return fmt.Errorf("swarm: list nodes: %w", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	for _, n := range list {
		if n.Spec.Availability != swarm.NodeAvailabilityActive {
			continue
		}
		nd := node{id: n.ID, zone: n.Spec.Labels[NodeZoneLabel], engine: n.Spec.Labels[NodeEngineLabel]}
		if nd.engine == "" {
			return fmt.Errorf("swarm: node %s (%s) has no %s label naming its engine: the fleet loads images and acts on containers through it", n.ID, n.Description.Hostname, NodeEngineLabel)
		}
		cli, err := connect(ctx, nd.engine)
		if err != nil {
			return fmt.Errorf("swarm: engine of node %s: %w", n.ID, err)
		}
		f.engines[n.ID] = cli
		f.nodes = append(f.nodes, nd)
	}
	if len(f.nodes) == 0 {
		return fmt.Errorf("swarm: no active node")
	}
	return nil
}

// serve starts the collector and the blob endpoint on addr, at a port
// derived from the run id (a fleet object made again serves the URLs its
// tasks hold), or any port when that one is taken.
func (f *Fleet) serve(addr string) error {
	port := 20000 + int(crc32.ChecksumIEEE([]byte("swarm/"+f.runID))%40000)
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
	}
	if err != nil {
		return fmt.Errorf("swarm: collector on %s (Options.Collector, %s: an address of this machine the tasks reach): %w", addr, CollectorEnv, err)
	}
	f.base = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle(docker.ReportPath, f.reports)
	mux.Handle("/", f.store)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return nil
}

// RunID is the run's id, as in the osupgrade.run label.
func (f *Fleet) RunID() string { return f.runID }

// Storage is the blob endpoint the extensions download from.
func (f *Fleet) Storage() *storage.Server { return f.store }

// SetBadVersion marks an image version as bad (harness.BadVersions).
func (f *Fleet) SetBadVersion(version string, kind fault.BadKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if kind == fault.BadKindNone {
		delete(f.bad, version)
		return
	}
	f.bad[version] = kind
}

// Close stops the endpoint and releases the clients; the services stay (a
// later New with the same RunID reattaches, Clean removes them).
func (f *Fleet) Close() error {
	if f.srv != nil {
		f.srv.Close()
	}
	errs := []error{f.mgr.Close()}
	for _, c := range f.engines {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (f *Fleet) prefix() string { return "osupgrade-" + f.runID }

func (f *Fleet) networkName(set string) string {
	return f.prefix() + "-" + unsafeName.ReplaceAllString(set, "-")
}

func (f *Fleet) serviceName(set string, id int) string {
	return f.networkName(set) + "-" + strconv.Itoa(id)
}

func (f *Fleet) volumeName(set string, id, disk int) string {
	return f.serviceName(set, id) + "-disk" + strconv.Itoa(disk)
}

func (f *Fleet) runLabels(set string) map[string]string {
	l := map[string]string{docker.LabelOwner: docker.Owner, docker.LabelRun: f.runID}
	if set != "" {
		l[docker.LabelSet] = set
	}
	return l
}

func (f *Fleet) runFilter(set string) filters.Args {
	a := filters.NewArgs(filters.Arg("label", docker.LabelOwner+"="+docker.Owner), filters.Arg("label", docker.LabelRun+"="+f.runID))
	if set != "" {
		a.Add("label", docker.LabelSet+"="+set)
	}
	return a
}

func (f *Fleet) set(name string) (*scaleSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sets[name]
	if !ok {
		return nil, fmt.Errorf("swarm: %w: %s", orchestrator.ErrNotFound, name)
	}
	return s, nil
}

func (f *Fleet) model(s *scaleSet) orchestrator.ScaleSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return s.model
}

func (f *Fleet) engine(nodeID string) (*client.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.engines[nodeID]
	if !ok {
		return nil, fmt.Errorf("swarm: node %s is not one the fleet knows", nodeID)
	}
	return c, nil
}

// place picks the node of instance id: the nodes of its zone (all nodes
// when the set has no zones) in turn, by the instance's rank in its zone.
func (f *Fleet) place(m orchestrator.ScaleSet, id int) (string, error) {
	zone, _ := m.Placement(id)
	var in []node
	for _, n := range f.nodes {
		if zone == "" || n.zone == zone {
			in = append(in, n)
		}
	}
	if len(in) == 0 {
		return "", fmt.Errorf("swarm: no active node carries %s=%s (instance %d of %s)", NodeZoneLabel, zone, id, m.Name)
	}
	z := max(1, len(m.Zones))
	return in[(id/z)%len(in)].id, nil
}

func (f *Fleet) logf(format string, args ...any) {
	if f.progress != nil {
		fmt.Fprintf(f.progress, "swarm: "+format+"\n", args...)
	}
}

// parallel runs fn for 0..n-1 with the fleet's concurrency.
func (f *Fleet) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	return docker.Parallel(ctx, f.sem, n, fn)
}
