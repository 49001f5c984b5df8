package docker

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/storage"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/internal/netfault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

var (
	_ orchestrator.Fleet       = (*Fleet)(nil)
	_ orchestrator.Provisioner = (*Fleet)(nil)
	_ fault.Injector           = (*Fleet)(nil)
)

// Labels on every resource the fleet creates. Only resources carrying
// LabelOwner=Owner are ever changed or removed (I-7).
const (
	LabelOwner        = "osupgrade.owner"
	Owner             = "osupgrade"
	LabelRun          = "osupgrade.run"
	LabelSet          = "osupgrade.scale-set"
	LabelInstance     = "osupgrade.instance"
	LabelZone         = "osupgrade.zone"
	LabelUpdateDomain = "osupgrade.update-domain"
	LabelVersion      = "osupgrade.os-version"
	LabelImageRef     = "osupgrade.image-ref"
	LabelBad          = "osupgrade.bad"
	LabelAgent        = "osupgrade.agent"
	LabelDisk         = "osupgrade.data-disk"
)

// agentTimeout is how long Observe waits for an agent: past it the instance
// counts as hung or unreachable.
const agentTimeout = time.Second

// ErrEngineUnavailable is returned by New when the Docker engine does not
// answer.
var ErrEngineUnavailable = errors.New("docker engine unavailable")

// PassiveClock is the scenario clock: SAS tokens expire on it.
type PassiveClock interface{ Now() time.Time }

// Options configure a Fleet.
type Options struct {
	// RunID names and labels this run's resources so that parallel runs do
	// not collide; "" draws a random one. New with an existing run's ID
	// reattaches to its scale sets. Up to 64 characters; any but letters,
	// digits, '_', '.' and '-' become '-'.
	RunID string
	// TimeScale is scenario seconds per wall second for the agents' waits
	// (boot, probe interval, grace period). 0: the Clock's scale when it is a
	// *clock.Scaled, else 60.
	TimeScale float64
	// Clock is the scenario clock; nil: clock.NewScaled(clock.Epoch, TimeScale).
	Clock PassiveClock
	// Concurrency bounds parallel engine operations (default 8).
	Concurrency int
	// Progress receives a line per step of long operations; nil: silent.
	Progress io.Writer
	// AgentBinary is a prebuilt static osupgrade binary for the OS images
	// (run as `osupgrade agent`); "": the running executable when it is a
	// static osupgrade (ExecutableIsOsupgrade), else osupgrade built from
	// this module with `go build` (CGO_ENABLED=0), once per process.
	AgentBinary string
	// Seed fixes the initial data-disk contents.
	Seed uint64
	// PollAgents makes Observe ask every agent over HTTP instead of reading
	// what the agents push to the collector (push health): the way before
	// it, kept for comparison and for agents of images built by an older
	// osupgrade, which are polled whatever this says. The environment's
	// OSUPGRADE_AGENT_HEALTH=poll sets it too (push: the default).
	PollAgents bool
	// TestOwner labels everything the run creates with the test process
	// that owns it (LabelTestOwner, a TestOwner value), so that a later
	// test process can sweep the run if this one is killed before it
	// cleans up (SweepDeadTestRuns). "": the environment's TestOwnerEnv,
	// which a test sets for the osupgrade processes it starts; users' runs
	// have neither and are never swept.
	TestOwner string
}

// Fleet is a fleet of containers standing in for VMs. Safe for concurrent
// use.
type Fleet struct {
	cli      *client.Client
	cliBase  *client.Client // owns cli's connection pool
	engine   *engineLog     // what cli asked the engine to change (I-7)
	runID    string
	clock    PassiveClock
	scale    float64
	seed     uint64
	sem      chan struct{}
	progress io.Writer
	agent    agentBinary
	store    *storage.Server
	agents   agent.Client
	conns    *agentConns // kept-alive status connections, one pool per container start
	probe    *http.Client
	reports  *collector // what the agents push (push health)
	poll     bool       // Options.PollAgents

	lists      *listCache // the sets' container listings while unchanged
	stopEvents func()     // ends followEvents and waits for it
	owner      string     // Options.TestOwner

	// olderAgents imitates OS images built by an osupgrade before push
	// health (tests of version skew): no LabelReports, no Report.
	olderAgents bool

	mu     sync.Mutex
	sets   map[string]*scaleSet
	bad    map[string]fault.BadKind
	builds map[string]*sync.Mutex // image tag -> build lock
	images map[string]bool        // image tags known present
	cache  map[string]seen        // container ID -> last status seen
	// netUndo ends the network faults on the instances' current containers.
	netUndo map[string]netfault.Undo
	watch   *watch
	// replacing holds, by "set/id", the version of the reimage in
	// progress: the container is briefly gone, and an observer must see a
	// disk being replaced, not a lost instance.
	replacing map[string]string
}

// scaleSet is what the fleet keeps about one set; the containers are the
// truth, this is the model and the fault switches.
type scaleSet struct {
	model   orchestrator.ScaleSet
	network string
	gateway string
	base    string // storage URL as the containers reach it
	srv     *http.Server
	inst    []switches
}

// seen is the last agent status read from a container, for when it cannot
// answer (stopped, paused).
type seen struct {
	booted bool
	prov   plan.Provisioning
}

// runIDUnsafe are the characters a run id cannot hold: it goes into names
// and labels.
var runIDUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// New connects to the engine (API version negotiated: the engine may be
// older than the client), builds the agent binary and reattaches to the
// scale sets of opts.RunID that already exist. Without a static osupgrade
// binary for the OS images (see Options.AgentBinary) it fails with
// ErrNoAgentBinary.
func New(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.RunID == "" {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		opts.RunID = hex.EncodeToString(b)
	}
	opts.RunID = runIDUnsafe.ReplaceAllString(opts.RunID, "-")
	if len(opts.RunID) > 64 {
		return nil, fmt.Errorf("docker: run id %q is longer than 64 characters", opts.RunID)
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
	cli, cliBase, engine, err := connectLogged(ctx)
	if err != nil {
		return nil, err
	}
	bin, err := loadAgent(ctx, opts.AgentBinary, opts.Progress)
	if err != nil {
		cliBase.Close()
		return nil, err
	}
	store, err := storage.NewWithKey("osupgrade", storageKey(opts.RunID), opts.Clock)
	if err != nil {
		cliBase.Close()
		return nil, err
	}
	f := &Fleet{
		cli: cli, cliBase: cliBase, engine: engine, runID: opts.RunID, clock: opts.Clock, scale: opts.TimeScale, seed: opts.Seed,
		sem: make(chan struct{}, opts.Concurrency), progress: opts.Progress, agent: bin, store: store,
		agents: agent.Client{HTTP: &http.Client{Timeout: agentTimeout, Transport: &http.Transport{DisableKeepAlives: true}}},
		conns:  newAgentConns(),
		probe:  newProbeClient(),
		sets:   map[string]*scaleSet{}, bad: map[string]fault.BadKind{}, builds: map[string]*sync.Mutex{}, images: map[string]bool{}, cache: map[string]seen{},
		netUndo: map[string]netfault.Undo{},
	}
	f.reports = newCollector(opts.RunID, time.Now)
	f.lists = newListCache()
	engine.changed = f.lists.changed
	evCtx, evCancel := context.WithCancel(context.WithoutCancel(ctx))
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		f.followEvents(evCtx)
	}()
	var stopOnce sync.Once
	f.stopEvents = func() { stopOnce.Do(func() { evCancel(); <-evDone }) }
	f.owner = cmp.Or(opts.TestOwner, os.Getenv(TestOwnerEnv))
	if f.poll, err = pollAgents(opts); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.reattach(ctx); err != nil {
		f.Close()
		return nil, err
	}
	f.awaitReports(ctx)
	return f, nil
}

// Connect returns a client of the engine in the environment (DOCKER_HOST
// etc.) that negotiates the API version, after checking the engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEngineUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %v", ErrEngineUnavailable, err)
	}
	return cli, nil
}

// RunID is the run's id, as in the osupgrade.run label.
func (f *Fleet) RunID() string { return f.runID }

// Storage is the blob endpoint the extensions download from.
func (f *Fleet) Storage() *storage.Server { return f.store }

// SetBadVersion marks an image version as bad: images built for it from now
// on carry an agent that misbehaves that way (a scenario's `bad:`).
func (f *Fleet) SetBadVersion(version string, kind fault.BadKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if kind == fault.BadKindNone {
		delete(f.bad, version)
		return
	}
	f.bad[version] = kind
}

// Close stops the storage listeners and releases the client; the
// containers stay (a later New with the same RunID reattaches, Clean
// removes them).
func (f *Fleet) Close() error {
	f.mu.Lock()
	for _, s := range f.sets {
		if s.srv != nil {
			s.srv.Close()
		}
	}
	f.mu.Unlock()
	f.conns.closeAll()
	f.stopEvents()
	return errors.Join(f.cli.Close(), f.cliBase.Close())
}

// names of the run's resources.
func (f *Fleet) prefix() string { return "osupgrade-" + f.runID }

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

func (f *Fleet) networkName(set string) string {
	return f.prefix() + "-" + unsafeName.ReplaceAllString(set, "-")
}

func (f *Fleet) containerName(set string, id int) string {
	return f.networkName(set) + "-" + strconv.Itoa(id)
}

func (f *Fleet) volumeName(set string, id, disk int) string {
	return f.containerName(set, id) + "-disk" + strconv.Itoa(disk)
}

// runLabels are the labels every resource of the run carries.
func (f *Fleet) runLabels(set string) map[string]string {
	l := map[string]string{LabelOwner: Owner, LabelRun: f.runID}
	if f.owner != "" {
		l[LabelTestOwner] = f.owner
	}
	if set != "" {
		l[LabelSet] = set
	}
	return l
}

// runFilter selects the run's resources, optionally one set's, one
// instance's.
func (f *Fleet) runFilter(set string, id int) filters.Args {
	a := filters.NewArgs(filters.Arg("label", LabelOwner+"="+Owner), filters.Arg("label", LabelRun+"="+f.runID))
	if set != "" {
		a.Add("label", LabelSet+"="+set)
	}
	if id >= 0 {
		a.Add("label", LabelInstance+"="+strconv.Itoa(id))
	}
	return a
}

// set returns a scale set's state.
func (f *Fleet) set(name string) (*scaleSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sets[name]
	if !ok {
		return nil, fmt.Errorf("docker: %w: %s", orchestrator.ErrNotFound, name)
	}
	return s, nil
}

// instanceContainer finds the container of one instance by its labels; ok
// is false when there is none.
func (f *Fleet) instanceContainer(ctx context.Context, set string, id int) (c container.Summary, ok bool, err error) {
	list, err := f.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f.runFilter(set, id)})
	if err != nil {
		return c, false, fmt.Errorf("docker: list containers of %s/%d: %w", set, id, err)
	}
	if len(list) == 0 {
		return c, false, nil
	}
	return list[0], true, nil
}

// storageKey is the storage account's key for a run: derived from the run
// id, so that a fleet object made again for the same run (a `serve` killed
// and restarted on its --data) accepts the tokens already handed to the
// containers. The fake's tokens guard against expiry and tampering, not
// against someone who can read the engine's labels.
func storageKey(runID string) string {
	sum := sha256.Sum256([]byte("osupgrade-storage/" + runID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// storagePort is where a set's blob endpoint listens: the same port for the
// same run and set, so that a fleet made again serves the URLs its
// containers hold; a random one when that port is taken.
func storagePort(runID, set string) int {
	return 20000 + int(crc32.ChecksumIEEE([]byte(runID+"/"+set))%40000)
}

// serveStorage starts the blob endpoint on the set network's gateway
// address: reachable from the containers, and from nowhere else but the host.
func (f *Fleet) serveStorage(s *scaleSet) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.gateway, strconv.Itoa(storagePort(f.runID, s.model.Name))))
	if err != nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(s.gateway, "0"))
	}
	if err != nil {
		return fmt.Errorf("docker: storage endpoint on %s: %w", s.gateway, err)
	}
	s.base = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: f.endpoint(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

func (f *Fleet) logf(format string, args ...any) {
	if f.progress != nil {
		fmt.Fprintf(f.progress, "docker: "+format+"\n", args...)
	}
}
