package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	dockerfleet "github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Labels on everything the Docker benchmark creates; it removes only what
// carries LabelBenchRun with its own run id.
const (
	LabelBenchOwner = "osupgrade.owner"
	BenchOwner      = "osupgrade-bench"
	LabelBenchRun   = "osupgrade.bench.run"
)

// Benchmark rollout settings shared by the three ways.
const (
	benchBootTime = 30 * time.Second // scenario time, as the sim's default
	// swarmParallelismPct is Swarm's update parallelism: our batch size.
	swarmParallelismPct = 20
)

// DockerOptions configure the Docker ways.
type DockerOptions struct {
	// Ours is our Docker fleet's backend (the registry's "docker", or a
	// stand-in); without an Open our rollout is not measured.
	Ours backend.Factory
	// TimeScale is scenario seconds per wall second (default 60, as
	// `osupgrade run`): boot and health waits shrink alike for all three ways.
	TimeScale float64
	// Progress shows the Docker set-up steps; nil: none.
	Progress *progress.Printer
}

// Docker measures the three ways on the local engine. Create it with
// NewDocker; Close removes what it created and leaves the swarm it joined.
type Docker struct {
	cli   *client.Client
	opts  DockerOptions
	run   string
	image [2]string // tags of versions 1.0.0 and 2.0.0
	netID string

	swarmErr       error // why Swarm cannot be measured; nil: it can
	swarmInit      bool  // we initialised the swarm (and must leave it)
	gwbridgeBefore bool

	n        int
	service  string
	cleanups []func(context.Context) error
}

var _ DockerWays = (*Docker)(nil)

// NewDocker connects to the engine, builds the two benchmark images FROM
// scratch (the agent, a health probe, the version), creates a labelled
// network, and initialises a single-node swarm when the engine is in none.
// It returns the engine's version.
func NewDocker(ctx context.Context, opts DockerOptions) (*Docker, string, error) {
	if opts.TimeScale <= 0 {
		opts.TimeScale = 60
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, "", err
	}
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		cli.Close()
		return nil, "", fmt.Errorf("the Docker engine does not answer: %w", err)
	}
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return nil, "", err
	}
	d := &Docker{cli: cli, opts: opts, run: hex.EncodeToString(id)}
	if err := d.setUp(ctx); err != nil {
		cerr := d.Close(context.WithoutCancel(ctx))
		return nil, "", errors.Join(err, cerr)
	}
	return d, v.Version, nil
}

func (d *Docker) labels() map[string]string {
	return map[string]string{LabelBenchOwner: BenchOwner, LabelBenchRun: d.run}
}

// runFilter selects this run's resources; with no run (CleanAll), every
// benchmark run's.
func (d *Docker) runFilter() filters.Args {
	if d.run == "" {
		return filters.NewArgs(filters.Arg("label", LabelBenchOwner+"="+BenchOwner))
	}
	return filters.NewArgs(filters.Arg("label", LabelBenchRun+"="+d.run))
}

// CleanAll removes what benchmark runs left behind (one killed before it
// could clean up): Swarm services, containers, volumes, networks and images
// labelled osupgrade.owner=osupgrade-bench, then leaves the swarm if a
// benchmark initialised it (its spec carries that label). Nothing without
// the label is touched. It reports what it removed on progress.
func CleanAll(ctx context.Context, progress io.Writer) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	d := &Docker{cli: cli}
	var errs []error
	svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: d.runFilter()})
	// Outside a swarm the engine answers Unavailable: no services to remove.
	if err != nil && !errdefs.IsUnavailable(err) {
		errs = append(errs, fmt.Errorf("list services: %w", err))
	}
	for _, svc := range svcs {
		if svc.Spec.Labels[LabelBenchOwner] != BenchOwner {
			continue
		}
		if err := cli.ServiceRemove(ctx, svc.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", svc.Spec.Name, err))
		}
	}
	errs = append(errs, d.removeLabelled(ctx))
	sw, err := cli.SwarmInspect(ctx)
	left := false
	if err == nil && sw.Spec.Labels[LabelBenchOwner] == BenchOwner {
		if err := cli.SwarmLeave(ctx, true); err != nil {
			errs = append(errs, fmt.Errorf("leave the benchmark's swarm: %w", err))
		} else {
			left = true
		}
	}
	fmt.Fprintf(progress, "bench: removed %d Swarm services and every resource labelled %s=%s; left the benchmark's swarm: %v\n", len(svcs), LabelBenchOwner, BenchOwner, left)
	return errors.Join(errs...)
}

func (d *Docker) logf(format string, args ...any) {
	d.opts.Progress.Event("docker: "+format, args...)
}

func (d *Docker) setUp(ctx context.Context) error {
	d.cleanups = append(d.cleanups, d.removeLabelled)
	bins, err := buildBinaries(ctx)
	if err != nil {
		return err
	}
	for i, version := range []string{"1.0.0", "2.0.0"} {
		tag, err := d.buildImage(ctx, version, bins)
		if err != nil {
			return err
		}
		d.image[i] = tag
	}
	nw, err := d.cli.NetworkCreate(ctx, "osupgrade-bench-"+d.run, network.CreateOptions{Driver: "bridge", Labels: d.labels()})
	if err != nil {
		return fmt.Errorf("create network: %w", err)
	}
	d.netID = nw.ID

	info, err := d.cli.Info(ctx)
	if err != nil {
		return err
	}
	if st := info.Swarm.LocalNodeState; st != swarm.LocalNodeStateInactive {
		d.swarmErr = fmt.Errorf("the engine is already in a swarm (%s); the benchmark only uses a single-node swarm it creates and leaves", st)
		return nil
	}
	if _, err := d.cli.NetworkInspect(ctx, "docker_gwbridge", network.InspectOptions{}); err == nil {
		d.gwbridgeBefore = true
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	// The label lets CleanAll leave a swarm a killed benchmark initialised.
	init := swarm.InitRequest{ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1", Spec: swarm.Spec{Annotations: swarm.Annotations{Labels: d.labels()}}}
	if _, err := d.cli.SwarmInit(ctx, init); err != nil {
		d.swarmErr = fmt.Errorf("docker swarm init: %w", err)
		return nil
	}
	d.swarmInit = true
	d.cleanups = append(d.cleanups, d.leaveSwarm)
	return nil
}

// binaries are the static programs in the benchmark image.
type binaries struct{ agent, probe []byte }

// buildBinaries builds the agent and the health probe with CGO_ENABLED=0:
// the images are FROM scratch, with no libc. It needs the module's source.
func buildBinaries(ctx context.Context) (binaries, error) {
	dir, err := os.MkdirTemp("", "osupgrade-bench-")
	if err != nil {
		return binaries{}, err
	}
	defer os.RemoveAll(dir)
	var out binaries
	for _, b := range []struct {
		pkg string
		dst *[]byte
	}{
		{"github.com/osupgrade/osupgrade/cmd/osupgrade-agent", &out.agent},
		{"github.com/osupgrade/osupgrade/bench/healthprobe", &out.probe},
	} {
		path := filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", path, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return binaries{}, fmt.Errorf("build %s (run inside the osupgrade module): %v\n%s", b.pkg, err, msg)
		}
		if *b.dst, err = os.ReadFile(path); err != nil {
			return binaries{}, err
		}
	}
	return out, nil
}

// agentModel is the scale set the benchmark agents believe they are in.
func agentModel(n int) orchestrator.ScaleSet {
	return orchestrator.ScaleSet{Name: "bench", Capacity: n, UpdateDomains: 5, OS: "linux", Health: plan.HealthExtension, BootTime: benchBootTime, DataDisks: 1, Rolling: plan.DefaultRollingUpgradePolicy()}
}

// benchModel is the scale set of Docker.Ours's scenario, for its lower
// bound: n instances, 5 update domains, no zones, the health extension at
// its defaults, the default rolling policy.
func benchModel(n int) orchestrator.ScaleSet {
	return orchestrator.ScaleSet{
		Name: "bench", Capacity: n, UpdateDomains: 5, OS: "linux", Health: plan.HealthExtension,
		BootTime: benchBootTime, Rolling: plan.DefaultRollingUpgradePolicy(),
		AppHealth: orchestrator.AppHealth{IntervalInSeconds: 5, NumberOfProbes: 1},
	}
}

// HealthGate is the wall time a health-gated rollout of n containers
// spends beyond the engine's recreate: for each batch of our rollout's
// scenario (benchModel), one boot and one health confirmation
// (LowerBound), at the time scale. The limit plus it is the health-gated
// lower bound reported beside the limit.
func (d *Docker) HealthGate(n int) time.Duration {
	return time.Duration(float64(LowerBound(benchModel(n)).Total) / d.opts.TimeScale)
}

// buildImage builds one version's image from an in-memory context.
func (d *Docker) buildImage(ctx context.Context, version string, bins binaries) (string, error) {
	tag := "osupgrade-bench:" + d.run + "-" + version
	img, err := json.Marshal(agent.Image{Ref: "Canonical:UbuntuServer:18.04-LTS", Version: version})
	if err != nil {
		return "", err
	}
	cfg, err := json.Marshal(agent.Config{Set: "bench", TimeScale: d.opts.TimeScale, Model: agentModel(1)})
	if err != nil {
		return "", err
	}
	dockerfile := strings.Join([]string{
		"FROM scratch",
		"COPY osupgrade-agent /osupgrade-agent",
		"COPY healthprobe /healthprobe",
		"COPY image.json /" + agent.ImagePath,
		"COPY agent.json /" + agent.ConfigPath,
		"STOPSIGNAL SIGTERM",
		`ENTRYPOINT ["/osupgrade-agent"]`,
		"",
	}, "\n")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"osupgrade-agent", 0o755, bins.agent}, {"healthprobe", 0o755, bins.probe}, {"image.json", 0o644, img}, {"agent.json", 0o644, cfg}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: time.Unix(0, 0)}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.body); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := d.cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Labels: d.labels(), Remove: true, ForceRemove: true, SuppressOutput: true})
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("build image %s: %w", tag, err)
		}
		if msg.Error != "" {
			return "", fmt.Errorf("build image %s: %s", tag, msg.Error)
		}
	}
	return tag, nil
}

// Settings describes how the three ways run at n containers.
func (d *Docker) Settings(n int) string {
	return fmt.Sprintf("time scale %g (30 s boot = %s, 5 s health confirmation = %s wall); ours: 5 update domains → 5 batches of %d, %d parallel reimages; engine limit: stop+remove+create+start of all %d at %d in parallel, no health gate; Swarm: %d replicas, parallelism %d (20%%), HEALTHCHECK every %s (an exec per replica per probe: at most %d a second here, so the gate's interval is floored), monitor %s, failure action rollback, stop-first",
		d.opts.TimeScale, d.wall(benchBootTime), d.wall(5*time.Second), plan.BatchSize(n, swarmParallelismPct), dockerfleet.ReimageConcurrency(), n, dockerfleet.ReimageConcurrency(), n, d.parallelism(n), d.healthIntervalFor(n), swarmExecsPerSecond, d.wall(5*time.Second))
}

func (d *Docker) wall(scenarioTime time.Duration) time.Duration {
	return time.Duration(float64(scenarioTime) / d.opts.TimeScale).Round(time.Millisecond)
}

// healthIntervalFor is Swarm's HEALTHCHECK interval for n replicas: the agent's probe
// interval (5 s) at the time scale, but no less than a replica count's
// worth of exec'd probes the engine here can keep up with
// (swarmExecsPerSecond): below it probes queue and time out, and tasks
// never turn healthy. At 200 replicas and time scale 60 the agent's 83 ms
// would be 2,400 execs a second. The floor delays Swarm's health gate, and
// the report says so (Settings).
func (d *Docker) healthIntervalFor(n int) time.Duration {
	floor := time.Duration(float64(time.Second) * float64(max(n, 1)) / swarmExecsPerSecond)
	return max(d.wall(5*time.Second), floor, 50*time.Millisecond)
}

// swarmExecsPerSecond is the budget of HEALTHCHECK execs a second: each
// costs runc, containerd's shim and the engine milliseconds of CPU. At 100
// a second (N=50, 0.5 s) Swarm's own probes held this 2-core machine at a
// load of ~73 and its update of 50 took 237 s, four times the engine's
// plain recreate: that measured the probes, not the update.
const swarmExecsPerSecond = 25

func (d *Docker) parallelism(n int) uint64 { return uint64(plan.BatchSize(n, swarmParallelismPct)) }

// Prepare readies the data volumes of n containers for the engine-limit
// recreate. Each way then builds its own containers before it is timed and
// removes them after, so that only the way being measured has agents
// running: three idle fleets side by side would load the machine, and every
// way with it.
func (d *Docker) Prepare(ctx context.Context, n int) error {
	if err := d.removeWorkload(ctx); err != nil {
		return err
	}
	d.n = n
	return parallel(ctx, n, dockerfleet.ReimageConcurrency(), func(ctx context.Context, i int) error {
		_, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: d.volumeName(i), Labels: d.labels()})
		return err
	})
}

func (d *Docker) containerName(i int) string { return fmt.Sprintf("osupgrade-bench-%s-%d", d.run, i) }
func (d *Docker) volumeName(i int) string    { return fmt.Sprintf("osupgrade-bench-%s-%d-data", d.run, i) }

func (d *Docker) startContainer(ctx context.Context, i int, img string) error {
	c, err := d.cli.ContainerCreate(ctx,
		&container.Config{Image: img, Labels: d.labels()},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: d.volumeName(i), Target: "/" + agent.DataDir}}},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{d.netID: {}}}, nil, d.containerName(i))
	if err != nil {
		return err
	}
	return d.cli.ContainerStart(ctx, c.ID, container.StartOptions{})
}

// Limit creates n containers of the first image (not timed), then times a
// recreate of every one from the second at the orchestrator's concurrency:
// stop, remove, create with the same data volume, start. No health gate:
// the engine's limit for a reimage of all n. The containers are removed
// after.
func (d *Docker) Limit(ctx context.Context, n int) (time.Duration, error) {
	d.logf("creating %d containers", n)
	if err := parallel(ctx, n, dockerfleet.ReimageConcurrency(), func(ctx context.Context, i int) error {
		return d.startContainer(ctx, i, d.image[0])
	}); err != nil {
		return 0, fmt.Errorf("create %d containers: %w", n, err)
	}
	d.logf("recreating %d containers", n)
	start := time.Now()
	stop := 10
	err := parallel(ctx, n, dockerfleet.ReimageConcurrency(), func(ctx context.Context, i int) error {
		name := d.containerName(i)
		if err := d.cli.ContainerStop(ctx, name, container.StopOptions{Timeout: &stop}); err != nil {
			return err
		}
		if err := d.cli.ContainerRemove(ctx, name, container.RemoveOptions{}); err != nil {
			return err
		}
		return d.startContainer(ctx, i, d.image[1])
	})
	took := time.Since(start)
	if rmErr := d.removeContainers(ctx); err == nil && rmErr != nil {
		err = rmErr
	}
	if err != nil {
		return 0, fmt.Errorf("recreate: %w", err)
	}
	return took, nil
}

// healthcheck is the HEALTHCHECK of the updated tasks. Swarm's task
// template drops HEALTHCHECK's start interval (seen on engine 28.2: the
// task container has none), so a task is probed every interval for as
// long as it runs, each probe a process exec'd in the container. The
// service is therefore created without one (its tasks need no gate to
// start, and idle probes would load the machine) and gets it with the
// image in the timed update: every new task is gated on it.
func (d *Docker) healthcheck(n int) *container.HealthConfig {
	return &container.HealthConfig{
		Test:     []string{"CMD", "/healthprobe"},
		Interval: d.healthIntervalFor(n), StartPeriod: swarmReadyWithin,
		Timeout: 5 * time.Second, Retries: 10,
	}
}

func (d *Docker) serviceSpec(n int, img string) swarm.ServiceSpec {
	replicas := uint64(n)
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "osupgrade-bench-" + d.run, Labels: d.labels()},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           img,
				Labels:          d.labels(),
				StopGracePeriod: ptr(10 * time.Second),
			},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		UpdateConfig: &swarm.UpdateConfig{
			Parallelism: d.parallelism(n), Monitor: d.wall(5 * time.Second),
			FailureAction: swarm.UpdateFailureActionRollback, Order: swarm.UpdateOrderStopFirst,
		},
		RollbackConfig: &swarm.UpdateConfig{Parallelism: d.parallelism(n), Order: swarm.UpdateOrderStopFirst},
	}
}

func ptr[T any](v T) *T { return &v }

func (d *Docker) createService(ctx context.Context, n int) error {
	d.logf("creating a Swarm service of %d replicas", n)
	resp, err := d.cli.ServiceCreate(ctx, d.serviceSpec(n, d.image[0]), swarm.ServiceCreateOptions{})
	if err != nil {
		return fmt.Errorf("create Swarm service: %w", err)
	}
	d.service = resp.ID
	if err := d.waitRunning(ctx, n); err != nil {
		// Do not let a service that never settles load the other ways.
		rmErr := d.cli.ServiceRemove(context.WithoutCancel(ctx), d.service)
		d.service = ""
		return errors.Join(err, rmErr)
	}
	return nil
}

// swarmReadyWithin bounds the wait for a new service's n healthy tasks.
const swarmReadyWithin = 10 * time.Minute

// waitRunning waits until n tasks of the service run.
func (d *Docker) waitRunning(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeoutCause(ctx, swarmReadyWithin, fmt.Errorf("the Swarm service did not have %d running tasks within %s", n, swarmReadyWithin))
	defer cancel()
	for {
		ss, err := d.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("id", d.service)), Status: true})
		if err != nil {
			return err
		}
		if len(ss) == 1 && ss[0].ServiceStatus != nil && ss[0].ServiceStatus.RunningTasks >= uint64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Swarm creates an n-replica service of the first image and waits until
// every task is healthy (not timed), then times its update to the second
// image until Swarm says the update completed. The service is removed
// after.
func (d *Docker) Swarm(ctx context.Context, n int) (time.Duration, error) {
	if d.swarmErr != nil {
		return 0, d.swarmErr
	}
	if err := d.createService(ctx, n); err != nil {
		return 0, err
	}
	took, err := d.updateService(ctx)
	if rmErr := d.removeService(ctx); err == nil && rmErr != nil {
		err = rmErr
	}
	return took, err
}

func (d *Docker) updateService(ctx context.Context) (time.Duration, error) {
	svc, _, err := d.cli.ServiceInspectWithRaw(ctx, d.service, swarm.ServiceInspectOptions{})
	if err != nil {
		return 0, err
	}
	spec := svc.Spec
	spec.TaskTemplate.ContainerSpec.Image = d.image[1]
	spec.TaskTemplate.ContainerSpec.Healthcheck = d.healthcheck(d.n)
	d.logf("Swarm rolling update of %d replicas", d.n)
	start := time.Now()
	if _, err := d.cli.ServiceUpdate(ctx, d.service, svc.Version, spec, swarm.ServiceUpdateOptions{}); err != nil {
		return 0, fmt.Errorf("Swarm service update: %w", err)
	}
	for {
		svc, _, err := d.cli.ServiceInspectWithRaw(ctx, d.service, swarm.ServiceInspectOptions{})
		if err != nil {
			return 0, err
		}
		if ended, err := swarmUpdateEnded(svc.UpdateStatus, start); ended {
			took := time.Since(start)
			if err != nil {
				// How long Swarm took to give up is the comparison left.
				err = fmt.Errorf("after %.0f s: %w", took.Seconds(), err)
			}
			return took, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(swarmStatusPoll):
		}
	}
}

// swarmUpdateEnded reads the status of an update begun at start: ended
// when it completed (err nil) or stopped (err says how). A rollback puts
// the old image back in the spec, so the status alone is judged, by when
// its update began.
func swarmUpdateEnded(u *swarm.UpdateStatus, start time.Time) (ended bool, err error) {
	if u == nil || u.StartedAt == nil || u.StartedAt.Before(start.Add(-time.Second)) {
		return false, nil // not this update's status yet
	}
	switch u.State {
	case swarm.UpdateStateCompleted:
		return true, nil
	case swarm.UpdateStateRollbackCompleted, swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
		return true, fmt.Errorf("the Swarm update ended %s: %s", u.State, u.Message)
	}
	return false, nil
}

// swarmStatusPoll is how often the update's state is read: a fifth of a
// second is under 0.1% of the shortest update measured here (50 replicas,
// 2 minutes), and an inspect every 20 ms was 50 calls a second on the
// engine whose speed is being measured.
const swarmStatusPoll = 200 * time.Millisecond

// removeService removes the service and waits until its task containers
// are gone.
func (d *Docker) removeService(ctx context.Context) error {
	if d.service == "" {
		return nil
	}
	if err := d.cli.ServiceRemove(ctx, d.service); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	d.service = ""
	return d.removeContainers(ctx)
}

// removeContainers removes this run's containers, Swarm's tasks included
// (they go a little after their service), and waits until none is left.
func (d *Docker) removeContainers(ctx context.Context) error {
	for range 600 {
		cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: d.runFilter()})
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return nil
		}
		if err := parallel(ctx, len(cs), dockerfleet.ReimageConcurrency(), func(ctx context.Context, i int) error {
			err := d.cli.ContainerRemove(ctx, cs[i].ID, container.RemoveOptions{Force: true})
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				return nil // gone, or already being removed
			}
			return err
		}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the benchmark's containers did not go away within a minute")
}

// Ours runs our rollout of n containers on our Docker fleet: 5 update
// domains, so 5 batches of 20%, health-gated. The time is the rollout's, from
// its start to its end on the scaled clock, converted to wall time; building
// and removing the fleet is not counted.
func (d *Docker) Ours(ctx context.Context, n int) (time.Duration, error) {
	if d.opts.Ours.Open == nil {
		return 0, errors.New("the Docker fleet is not compiled into this binary")
	}
	src := fmt.Sprintf(`name: bench-docker-%d
seed: 1
scaleSets:
  - {name: bench, instances: %d, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0", health: extension}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
expect: {status: Completed, failed: 0}
`, n, n)
	sc, err := scenario.Parse(fmt.Sprintf("bench-docker-%d.yaml", n), []byte(src), harness.Vocabulary())
	if err != nil {
		return 0, err
	}
	r, err := harness.Run(ctx, sc, harness.Options{Fleet: "docker", Backend: d.opts.Ours, TimeScale: d.opts.TimeScale, Progress: d.opts.Progress.Writer()})
	if err != nil {
		return 0, err
	}
	if !r.OK {
		return 0, fmt.Errorf("our rollout of %d containers: %s", n, failedExpectations(r))
	}
	h := r.ScaleSets[0].History
	if len(h) == 0 || h[0].Properties.RunningStatus.EndTime == nil {
		return 0, fmt.Errorf("our rollout of %d containers has no end time", n)
	}
	rs := h[0].Properties.RunningStatus
	return time.Duration(float64(rs.EndTime.Sub(rs.StartTime)) / d.opts.TimeScale), nil
}

// removeWorkload removes this run's service and containers (not the
// images and network).
func (d *Docker) removeWorkload(ctx context.Context) error {
	var errs []error
	if d.service != "" {
		if err := d.cli.ServiceRemove(ctx, d.service); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
		d.service = ""
	}
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: d.runFilter()})
	if err != nil {
		return err
	}
	errs = append(errs, parallel(ctx, len(cs), dockerfleet.ReimageConcurrency(), func(ctx context.Context, i int) error {
		err := d.cli.ContainerRemove(ctx, cs[i].ID, container.RemoveOptions{Force: true})
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}))
	return errors.Join(errs...)
}

// removeLabelled removes everything carrying this run's label.
func (d *Docker) removeLabelled(ctx context.Context) error {
	errs := []error{d.removeWorkload(ctx)}
	// Swarm task containers go away a little after their service.
	for range 50 {
		cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: d.runFilter()})
		if err != nil || len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	vs, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: d.runFilter()})
	if err == nil {
		for _, v := range vs.Volumes {
			if err := d.cli.VolumeRemove(ctx, v.Name, true); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	} else {
		errs = append(errs, err)
	}
	ns, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: d.runFilter()})
	if err == nil {
		for _, n := range ns {
			if err := d.cli.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	} else {
		errs = append(errs, err)
	}
	is, err := d.cli.ImageList(ctx, image.ListOptions{Filters: d.runFilter()})
	if err == nil {
		for _, im := range is {
			if _, err := d.cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	} else {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leaveSwarm leaves the swarm this benchmark initialised and removes the
// docker_gwbridge network that swarm init created (only if it did not exist
// before).
func (d *Docker) leaveSwarm(ctx context.Context) error {
	if err := d.cli.SwarmLeave(ctx, true); err != nil {
		return fmt.Errorf("docker swarm leave --force: %w", err)
	}
	d.swarmInit = false
	if d.gwbridgeBefore {
		return nil
	}
	if err := d.cli.NetworkRemove(ctx, "docker_gwbridge"); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove docker_gwbridge: %w", err)
	}
	return nil
}

// Close removes every labelled resource, leaves the swarm if this benchmark
// initialised it, and closes the client.
func (d *Docker) Close(ctx context.Context) error {
	var errs []error
	// In order: workload and resources first, then the swarm.
	for _, c := range d.cleanups {
		errs = append(errs, c(ctx))
	}
	d.cleanups = nil
	errs = append(errs, d.cli.Close())
	return errors.Join(errs...)
}

// parallel runs fn for 0..n-1 with at most k at once; the first error
// cancels the rest.
func parallel(ctx context.Context, n, k int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("#%d: %w", i, err)
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
