package docker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// newFleet is a fleet on its own run id, cleaned when the test ends, plus
// a client of the engine for looking at what it did.
func newFleet(t *testing.T) (*docker.Fleet, *client.Client, *clock.Scaled) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping Docker tests in -short mode")
	}
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewScaled(clock.Epoch, 60)
	// Labelled with this test process, and a run a killed one left swept.
	opts, err := docker.ForTest(ctx, docker.Options{Clock: clk, Seed: 1, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	f, err := docker.New(ctx, opts)
	if errors.Is(err, docker.ErrEngineUnavailable) {
		fleettest.SkipWithoutEngine(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Clean(context.Background()); err != nil {
			t.Errorf("clean: %v", err)
		}
		f.Close()
	})
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return f, cli, clk
}

func image(v string) plan.Image { return plan.Image{Ref: fleettest.ImageRef.Ref(), Version: v} }

// waitFor observes until cond holds; the budget (scenario time) only guards
// against a hang.
func waitFor(t *testing.T, f *docker.Fleet, clk *clock.Scaled, set, what string, cond func([]plan.Instance) bool) []plan.Instance {
	t.Helper()
	deadline := clk.Now().Add(30 * time.Minute)
	for {
		obs, err := f.Observe(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		if cond(obs) {
			return slices.Clone(obs)
		}
		if clk.Now().After(deadline) {
			t.Fatalf("%s: never saw %s; last %+v", set, what, obs)
		}
		<-clk.After(5 * time.Second)
	}
}

func healthyOn(v string) func([]plan.Instance) bool {
	return func(obs []plan.Instance) bool {
		for i := range obs {
			if !plan.HealthyOn(&obs[i], v, plan.HealthExtension) {
				return false
			}
		}
		return true
	}
}

func containers(t *testing.T, cli *client.Client, f *docker.Fleet, set string) map[int]container.InspectResponse {
	t.Helper()
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]container.InspectResponse{}
	for _, c := range list {
		if c.Labels[docker.LabelRun] != f.RunID() || c.Labels[docker.LabelSet] != set {
			continue
		}
		id, err := strconv.Atoi(c.Labels[docker.LabelInstance])
		if err != nil {
			t.Fatalf("container %s has instance label %q", c.ID, c.Labels[docker.LabelInstance])
		}
		ins, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = ins
	}
	return out
}

// Every container, volume, network and image carries the labels; reimage
// keeps name, network and volumes and changes the version label.
func TestLabelsNamesAndMounts(t *testing.T) {
	f, cli, clk := newFleet(t)
	ctx := context.Background()
	m := fleettest.Model("labels", 2, plan.HealthExtension)
	m.Zones = []string{"1", "2"}
	m.DataDisks = 2
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	before := containers(t, cli, f, m.Name)
	if len(before) != 2 {
		t.Fatalf("%d containers, want 2", len(before))
	}
	for id, c := range before {
		zone, ud := m.Placement(id)
		want := map[string]string{
			docker.LabelOwner: docker.Owner, docker.LabelRun: f.RunID(), docker.LabelSet: m.Name,
			docker.LabelInstance: strconv.Itoa(id), docker.LabelZone: zone, docker.LabelUpdateDomain: strconv.Itoa(ud),
			docker.LabelVersion: fleettest.V1, docker.LabelImageRef: fleettest.ImageRef.Ref(),
		}
		for k, v := range want {
			if c.Config.Labels[k] != v {
				t.Errorf("instance %d: label %s = %q, want %q", id, k, c.Config.Labels[k], v)
			}
		}
		if wantName := "/osupgrade-" + f.RunID() + "-labels-" + strconv.Itoa(id); c.Name != wantName {
			t.Errorf("instance %d is named %s, want %s", id, c.Name, wantName)
		}
		var targets []string
		for _, mt := range c.Mounts {
			targets = append(targets, mt.Destination)
			v, err := cli.VolumeInspect(ctx, mt.Name)
			if err != nil {
				t.Fatal(err)
			}
			if v.Labels[docker.LabelOwner] != docker.Owner || v.Labels[docker.LabelRun] != f.RunID() || v.Labels[docker.LabelInstance] != strconv.Itoa(id) {
				t.Errorf("volume %s labels %v", v.Name, v.Labels)
			}
		}
		slices.Sort(targets)
		if !slices.Equal(targets, []string{"/data", "/data1"}) {
			t.Errorf("instance %d mounts %v, want /data and /data1", id, targets)
		}
		for name := range c.NetworkSettings.Networks {
			nw, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if nw.Labels[docker.LabelOwner] != docker.Owner || nw.Labels[docker.LabelRun] != f.RunID() || nw.Labels[docker.LabelSet] != m.Name || nw.Driver != "bridge" {
				t.Errorf("network %s: driver %s labels %v", name, nw.Driver, nw.Labels)
			}
		}
		img, err := cli.ImageInspect(ctx, c.Image)
		if err != nil {
			t.Fatal(err)
		}
		if img.Config.Labels[docker.LabelOwner] != docker.Owner || img.Config.Labels[docker.LabelVersion] != fleettest.V1 {
			t.Errorf("image %s labels %v", c.Image, img.Config.Labels)
		}
	}
	if err := f.Reimage(ctx, m.Name, 1, image(fleettest.V2)); err != nil {
		t.Fatal(err)
	}
	after := containers(t, cli, f, m.Name)
	a, b := after[1], before[1]
	if a.ID == b.ID || a.Name != b.Name || a.Config.Labels[docker.LabelVersion] != fleettest.V2 || a.Image == b.Image {
		t.Fatalf("reimaged container: id %s name %s version %s image %s; before: id %s name %s image %s", a.ID[:12], a.Name, a.Config.Labels[docker.LabelVersion], a.Image, b.ID[:12], b.Name, b.Image)
	}
	if !slices.Equal(mountNames(a), mountNames(b)) || !slices.Equal(slices.Sorted(mapsKeys(a.NetworkSettings.Networks)), slices.Sorted(mapsKeys(b.NetworkSettings.Networks))) {
		t.Fatalf("reimage changed volumes %v -> %v or networks", mountNames(b), mountNames(a))
	}
	if after[0].ID != before[0].ID {
		t.Fatalf("instance 0 was replaced by a reimage of instance 1")
	}
}

func mountNames(c container.InspectResponse) []string {
	var out []string
	for _, m := range c.Mounts {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// R-UPG-1, I-4: bytes written to the data disk survive reimage and
// rollback; the OS disk (custom data, its marker) is new on each reimage and
// kept on a restart; a graceful stop ends the agent with exit code 0.
func TestDataDiskAndOSDisk(t *testing.T) {
	f, cli, clk := newFleet(t)
	ctx := context.Background()
	m := fleettest.Model("disks", 1, plan.HealthExtension)
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	payload := make([]byte, 256<<10)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteData(ctx, m.Name, 0, "app.db", payload); err != nil {
		t.Fatal(err)
	}
	digests, err := f.DataDigests(ctx, m.Name)
	if err != nil {
		t.Fatal(err)
	}
	status := func() agent.Status {
		t.Helper()
		c := containers(t, cli, f, m.Name)[0]
		var ip string
		for _, n := range c.NetworkSettings.Networks {
			ip = n.IPAddress
		}
		st, err := agent.Client{}.Status(ctx, ip)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); !st.CustomDataRan || st.CustomDataRuns != 1 || st.Image.Version != fleettest.V1 {
		t.Fatalf("first boot: %+v", st)
	}

	// A restart keeps the OS disk: custom data does not run again.
	if err := f.Inject(ctx, m.Name, []int{0}, fault.Switch{Kind: fault.Stop, On: true}); err != nil {
		t.Fatal(err)
	}
	if c := containers(t, cli, f, m.Name)[0]; c.State.Running || c.State.ExitCode != 0 {
		t.Fatalf("after a graceful stop the agent's container is running=%t with exit code %d, want stopped with 0", c.State.Running, c.State.ExitCode)
	}
	if err := f.Inject(ctx, m.Name, []int{0}, fault.Switch{Kind: fault.Stop, On: false}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy after restart", healthyOn(fleettest.V1))
	if st := status(); st.CustomDataRan || st.CustomDataRuns != 1 {
		t.Fatalf("after a restart on the same OS disk: %+v", st)
	}

	for _, v := range []string{fleettest.V2, fleettest.V1} {
		if err := f.Reimage(ctx, m.Name, 0, image(v)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, f, clk, m.Name, "healthy on "+v, healthyOn(v))
		if st := status(); !st.CustomDataRan || st.CustomDataRuns != 1 || st.Image.Version != v {
			t.Fatalf("after a reimage to %s (a new OS disk): %+v", v, st)
		}
		got, err := f.ReadData(ctx, m.Name, 0, "app.db")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("after a reimage to %s the data file differs (%d bytes, want %d)", v, len(got), len(payload))
		}
		if d, err := f.DataDigests(ctx, m.Name); err != nil || !slices.Equal(d, digests) {
			t.Fatalf("data digests %x (%v), want %x", d, err, digests)
		}
	}
}

// I-7: foreign resources — even one named like ours — survive a run and
// its clean; a permanent engine error (the instance's name taken by a
// foreign container) fails that instance only, with the engine's message.
func TestForeignResourcesUntouched(t *testing.T) {
	f, cli, clk := newFleet(t)
	ctx := context.Background()
	m := fleettest.Model("hygiene", 2, plan.HealthExtension)
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	ours := containers(t, cli, f, m.Name)

	foreignLabels := map[string]string{"test.foreign": "1", docker.LabelOwner: "someone-else"}
	vol, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: "osupgrade-" + f.RunID() + "-foreign", Labels: foreignLabels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), vol.Name, true) })
	nw, err := cli.NetworkCreate(ctx, "osupgrade-"+f.RunID()+"-foreign", network.CreateOptions{Driver: "bridge", Labels: foreignLabels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), nw.ID) })
	foreign := func(name string) string {
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: ours[0].Image, Labels: foreignLabels}, &container.HostConfig{NetworkMode: container.NetworkMode(nw.ID)}, nil, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
		return c.ID
	}
	lookalike := foreign(strings.TrimPrefix(ours[0].Name, "/") + "-lookalike")

	// Instance 1's container goes (removed by the test, not the fleet) and a
	// foreign container takes its name.
	if err := cli.ContainerRemove(ctx, ours[1].ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	squatter := foreign(strings.TrimPrefix(ours[1].Name, "/"))
	before, err := f.Foreign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"container " + lookalike[:12], "container " + squatter[:12], "volume " + vol.Name, "network " + nw.ID[:12]} {
		if !slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("Foreign does not list %s: %v", want, before)
		}
	}
	for _, c := range ours {
		if slices.ContainsFunc(before, func(s string) bool { return strings.Contains(s, c.ID[:12]) }) {
			t.Errorf("Foreign lists the fleet's own container %s", c.Name)
		}
	}
	errs := make(chan error, 2)
	for _, id := range []int{0, 1} {
		go func() { errs <- f.Reimage(ctx, m.Name, id, image(fleettest.V2)) }()
	}
	var failed []error
	for range 2 {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Error(), "already in use") {
		t.Fatalf("reimage errors %v: want exactly one, instance 1's name conflict from the engine", failed)
	}
	waitFor(t, f, clk, m.Name, "instance 0 healthy on V2", func(obs []plan.Instance) bool {
		return plan.HealthyOn(&obs[0], fleettest.V2, m.Health) && obs[1].Version == "" && !obs[1].Running
	})

	if err := f.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{lookalike, squatter} {
		if _, err := cli.ContainerInspect(ctx, id); err != nil {
			t.Errorf("foreign container %s: %v", id[:12], err)
		}
	}
	if _, err := cli.VolumeInspect(ctx, vol.Name); err != nil {
		t.Errorf("foreign volume: %v", err)
	}
	if _, err := cli.NetworkInspect(ctx, nw.ID, network.InspectOptions{}); err != nil {
		t.Errorf("foreign network: %v", err)
	}
	// Other processes may change their own resources meanwhile: compare
	// this test's foreign resources only.
	mine := func(list []string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(s string) bool {
			return !strings.Contains(s, lookalike[:12]) && !strings.Contains(s, squatter[:12]) && !strings.Contains(s, vol.Name) && !strings.Contains(s, nw.ID[:12])
		})
	}
	if after, err := f.Foreign(ctx); err != nil || !slices.Equal(mine(after), mine(before)) || len(mine(before)) != 4 {
		t.Errorf("foreign resources changed (%v):\nbefore %v\nafter  %v", err, mine(before), mine(after))
	}
	left, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range left {
		if c.Labels[docker.LabelRun] == f.RunID() && c.Labels[docker.LabelOwner] == docker.Owner {
			t.Errorf("container %s of the run is left after Clean", c.Names)
		}
	}
}

// The journal feed: a reimage is reported as the OS disk is replaced, then
// the instance's report changes as Observe sees them, in time order.
func TestWatchFleetReportsReimagesAndStates(t *testing.T) {
	f, _, clk := newFleet(t)
	ctx := context.Background()
	m := fleettest.Model("watch", 2, plan.HealthExtension)
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	type rep struct {
		at       time.Time
		in       plan.Instance
		reimaged bool
	}
	var mu sync.Mutex
	var reps []rep
	stop, err := f.WatchFleet(ctx, func(at time.Time, set string, in plan.Instance, reimaged bool) {
		mu.Lock()
		defer mu.Unlock()
		if set == m.Name {
			reps = append(reps, rep{at, in, reimaged})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.Reimage(ctx, m.Name, 1, image(fleettest.V2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "instance 1 healthy on V2", func(obs []plan.Instance) bool { return plan.HealthyOn(&obs[1], fleettest.V2, m.Health) })
	stop()
	mu.Lock()
	defer mu.Unlock()
	var one []rep
	for i, r := range reps {
		if i > 0 && r.at.Before(reps[i-1].at) {
			t.Fatalf("report %d at %s is before report %d at %s", i, r.at, i-1, reps[i-1].at)
		}
		if r.in.ID == 1 {
			one = append(one, r)
		}
	}
	ri := slices.IndexFunc(one, func(r rep) bool { return r.reimaged })
	if ri < 0 || one[ri].in.Version != fleettest.V2 || slices.ContainsFunc(one[ri+1:], func(r rep) bool { return r.reimaged }) {
		t.Fatalf("instance 1's reports %+v: want one reimage to %s", one, fleettest.V2)
	}
	if slices.ContainsFunc(one[:ri], func(r rep) bool { return r.in.Version == fleettest.V2 }) {
		t.Fatalf("instance 1 was reported on %s before its reimage: %+v", fleettest.V2, one)
	}
	last := one[len(one)-1].in
	if !plan.HealthyOn(&last, fleettest.V2, m.Health) {
		t.Fatalf("instance 1's last report %+v, want healthy on %s", last, fleettest.V2)
	}
	if !slices.ContainsFunc(one[ri+1:], func(r rep) bool { return r.in.Running && r.in.Health == plan.HealthInitializing }) {
		t.Fatalf("instance 1's reports %+v: want its grace period (Initializing) between reimage and healthy", one)
	}
}

func runFilter(runID string) filters.Args {
	return filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+runID))
}
