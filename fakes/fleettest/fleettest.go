// Package fleettest is the contract every fleet backend keeps: one suite,
// the same assertions, run against every backend registered with package
// backend, so that the simulation stays honest.
//
// It must not special-case a backend by name: what differs (how time
// passes, whether a fleet outlives its handle) comes from the backend's
// declared properties and capabilities (backend.Factory, backend.Cleaner).
package fleettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Fleet is what the suite drives: the whole backend contract.
type Fleet = backend.Fleet

// World is one backend under test.
type World struct {
	Fleet Fleet
	// Now is the scenario time.
	Now func() time.Time
	// Wait lets d of scenario time pass (a virtual clock is advanced, a
	// wall clock waited on).
	Wait func(ctx context.Context, d time.Duration)
	// Reopen replaces the fleet object with a new one over the same
	// instances, as after a restart of the process, and returns it.
	Reopen func(ctx context.Context) (Fleet, error)
}

// Factory makes a fresh world for one test; it registers its own cleanup
// with t.
type Factory func(t *testing.T) *World

// WallTimeScale is the time scale of a wall-clock backend's contract run:
// one scenario minute per wall second.
const WallTimeScale = 60

// wallConcurrency bounds a wall-clock backend's engine operations in the
// suite, whose tests run in parallel: small, on a shared 2-core machine.
const wallConcurrency = 4

// RunRegistered runs the suite against every registered backend, one
// subtest each (named after it). A wall-clock backend runs only without
// -short, and is skipped when it is not available here (SkipUnavailable).
func RunRegistered(t *testing.T) {
	names := backend.Names()
	if len(names) == 0 {
		t.Fatal("no backend is registered: import them (blank imports) in the test")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			f, err := backend.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if f.Clock == backend.WallClock && testing.Short() {
				t.Skipf("skipping the %s contract run (a wall clock) in -short mode", name)
			}
			if f.Available != nil {
				if err := f.Available(context.Background()); err != nil {
					SkipUnavailable(t, name, err)
				}
			}
			Run(t, func(t *testing.T) *World { return NewWorld(t, name, f) })
		})
	}
}

// NewWorld opens backend f (registered as name) on its kind of clock for
// one test; a backend whose instances outlive the process (a Cleaner) is
// cleaned when the test ends, and reopened over the same run id.
func NewWorld(t *testing.T, name string, f backend.Factory) *World {
	ctx := context.Background()
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	cfg := backend.Config{RunID: "fleettest-" + hex.EncodeToString(id), Seed: 1}
	w := &World{}
	switch f.Clock {
	case backend.VirtualClock:
		c := clock.NewVirtual(clock.Epoch)
		cfg.Clock = c
		w.Now = c.Now
		w.Wait = func(_ context.Context, d time.Duration) { c.Advance(d) }
	case backend.WallClock:
		c := clock.NewScaled(clock.Epoch, WallTimeScale)
		cfg.Clock, cfg.TimeScale, cfg.Concurrency = c, WallTimeScale, wallConcurrency
		w.Now = c.Now
		w.Wait = func(ctx context.Context, d time.Duration) {
			select {
			case <-c.After(d):
			case <-ctx.Done():
			}
		}
	default:
		t.Fatalf("backend %s: clock %v", name, f.Clock)
	}
	fl, err := f.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open the %s fleet: %v", name, err)
	}
	w.Fleet = fl
	t.Cleanup(func() {
		if c, ok := w.Fleet.(backend.Cleaner); ok {
			if err := c.Clean(context.Background()); err != nil {
				t.Errorf("clean: %v", err)
			}
		}
		if err := w.Fleet.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	w.Reopen = func(ctx context.Context) (Fleet, error) {
		if _, outlives := w.Fleet.(backend.Cleaner); !outlives {
			// Its state is the object itself: re-creating it is handing
			// back the same object.
			return w.Fleet, nil
		}
		if err := w.Fleet.Close(); err != nil {
			return nil, err
		}
		return f.Open(ctx, cfg)
	}
	return w
}

// Image versions the suite uses.
const (
	V1           = "18.04.202101010"
	V2           = "18.04.202102010"
	VNeverHealth = "18.04.202103010"
	VCrash       = "18.04.202104010"
	VFailsExt    = "18.04.202105010"
)

// ImageRef is the suite's platform image.
var ImageRef = orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "latest"}

func image(v string) plan.Image { return plan.Image{Ref: ImageRef.Ref(), Version: v} }

// Model is the suite's scale set: n instances, one data disk, the app on
// 8080 with the health extension's default interval and a 2-minute grace
// period (long enough to be seen from outside at any time scale).
func Model(name string, n int, mode plan.HealthMode) orchestrator.ScaleSet {
	return orchestrator.ScaleSet{
		Name: name, Region: "westeurope", UpdateDomains: 5, Capacity: n, OS: "linux",
		Image:  ImageRef,
		Health: mode,
		AppHealth: orchestrator.AppHealth{
			Protocol: "http", Port: 8080, RequestPath: "/health",
			IntervalInSeconds: 5, NumberOfProbes: 1, GracePeriod: 2 * time.Minute,
		},
		DataDisks: 1, BootTime: 30 * time.Second, CustomData: "#cloud-config\n",
		APIVersion: orchestrator.DefaultAPIVersion, EnableAutomaticOSUpgrade: true,
		Rolling: plan.DefaultRollingUpgradePolicy(),
	}
}

// SkipWithoutEngine skips a test when the Docker engine is unreachable
// (err from the fleet's constructor), except in CI (CI=true) or with
// OSUPGRADE_REQUIRE_DOCKER=1, where it fails.
func SkipWithoutEngine(t *testing.T, err error) {
	t.Helper()
	SkipUnavailable(t, "docker", err)
}

// RequiredFleetsEnv lists, comma-separated, the backends that must be
// available here: an unavailable one fails its tests instead of skipping
// them (`make swarm-up` then OSUPGRADE_REQUIRE_FLEETS=docker,swarm).
const RequiredFleetsEnv = "OSUPGRADE_REQUIRE_FLEETS"

// SkipUnavailable skips a test when a backend cannot run here (err from its
// Factory.Available or constructor), except where it is required (Required),
// where it fails.
func SkipUnavailable(t *testing.T, name string, err error) {
	t.Helper()
	if Required(name, os.Getenv) {
		t.Fatalf("the %s fleet is required here (%s, or CI=true or OSUPGRADE_REQUIRE_DOCKER=1 for docker): %v", name, RequiredFleetsEnv, err)
	}
	t.Skipf("skipping: the %s fleet is unavailable (%v); list it in %s to make this a failure", name, err, RequiredFleetsEnv)
}

// Required reports whether backend name must be available: listed in
// $OSUPGRADE_REQUIRE_FLEETS when that is set; otherwise docker alone, in
// CI (CI=true: every CI run has the engine) or with
// OSUPGRADE_REQUIRE_DOCKER=1. A swarm needs setting up (`make swarm-up`),
// so it is required only when listed.
func Required(name string, getenv func(string) string) bool {
	if list := getenv(RequiredFleetsEnv); list != "" {
		for _, n := range strings.Split(list, ",") {
			if strings.TrimSpace(n) == name {
				return true
			}
		}
		return false
	}
	return name == "docker" && (getenv("CI") == "true" || getenv("OSUPGRADE_REQUIRE_DOCKER") == "1")
}

// Run runs the contract suite against worlds from newWorld.
func Run(t *testing.T, newWorld Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, w *World)
	}{
		{"ReimageChangesVersionAndKeepsData", testReimage},
		{"RollbackRestoresPreviousVersion", testRollback},
		{"HealthTransitions/extension", func(t *testing.T, w *World) { testHealth(t, w, plan.HealthExtension) }},
		{"HealthTransitions/probe", func(t *testing.T, w *World) { testHealth(t, w, plan.HealthProbe) }},
		{"HealthTransitions/none", func(t *testing.T, w *World) { testHealth(t, w, plan.HealthNone) }},
		{"ExpiredSASFailsExtensions", testExpiredSAS},
		{"BadImages", testBadImages},
		{"ObserveAfterReopen", testReopen},
		{"CapabilitiesSeeAReimage", testCapabilities},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newWorld(t))
		})
	}
}

// budget guards every wait against a hang; it is scenario time, far more
// than any transition takes (boot 30 s, grace 2 min).
const budget = 30 * time.Minute

// initializingWindow is the grace period of the health contract's
// extension case (see testHealth).
const initializingWindow = 10 * time.Minute

// step is how far scenario time moves between observations.
const step = 5 * time.Second

// waitFor observes the set until cond holds and returns that observation.
func waitFor(t *testing.T, w *World, set, what string, cond func([]plan.Instance) bool) []plan.Instance {
	t.Helper()
	ctx := context.Background()
	deadline := w.Now().Add(budget)
	var last []plan.Instance
	for {
		obs, err := w.Fleet.Observe(ctx, set)
		if err != nil {
			t.Fatalf("observe %s: %v", set, err)
		}
		last = slices.Clone(obs)
		if cond(last) {
			return last
		}
		if w.Now().After(deadline) {
			t.Fatalf("%s: never saw %s in %s of scenario time; last observation:\n%s", set, what, budget, dump(last))
		}
		w.Wait(ctx, step)
	}
}

func dump(obs []plan.Instance) string {
	var b strings.Builder
	for _, in := range obs {
		fmt.Fprintf(&b, "  %d zone=%q ud=%d version=%s running=%t provisioning=%s health=%s\n", in.ID, in.Zone, in.UpdateDomain, in.Version, in.Running, in.Provisioning, in.Health)
	}
	return b.String()
}

func allHealthyOn(version string, mode plan.HealthMode) func([]plan.Instance) bool {
	return func(obs []plan.Instance) bool {
		for i := range obs {
			if !plan.HealthyOn(&obs[i], version, mode) {
				return false
			}
		}
		return len(obs) > 0
	}
}

func instance(id int, cond func(*plan.Instance) bool) func([]plan.Instance) bool {
	return func(obs []plan.Instance) bool { return id < len(obs) && cond(&obs[id]) }
}

func create(t *testing.T, w *World, m orchestrator.ScaleSet, version string) []plan.Instance {
	t.Helper()
	if err := w.Fleet.CreateScaleSet(context.Background(), m, version); err != nil {
		t.Fatalf("create %s: %v", m.Name, err)
	}
	obs := waitFor(t, w, m.Name, "every instance healthy on "+version, allHealthyOn(version, m.Health))
	for i, in := range obs {
		zone, ud := m.Placement(i)
		if in.ID != i || in.Zone != zone || in.UpdateDomain != ud {
			t.Fatalf("instance %d observed as id=%d zone=%q ud=%d, want zone=%q ud=%d", i, in.ID, in.Zone, in.UpdateDomain, zone, ud)
		}
	}
	return obs
}

func reimage(t *testing.T, w *World, set string, id int, version string) {
	t.Helper()
	if err := w.Fleet.Reimage(context.Background(), set, id, image(version)); err != nil {
		t.Fatalf("reimage %s/%d to %s: %v", set, id, version, err)
	}
}

func inject(t *testing.T, w *World, set string, ids []int, s fault.Switch) {
	t.Helper()
	if err := w.Fleet.Inject(context.Background(), set, ids, s); err != nil {
		t.Fatalf("inject %s %t on %s%v: %v", s.Kind, s.On, set, ids, err)
	}
}

func digests(t *testing.T, w *World, set string) []uint64 {
	t.Helper()
	d, err := w.Fleet.DataDigests(context.Background(), set)
	if err != nil {
		t.Fatalf("data digests of %s: %v", set, err)
	}
	return d
}

// R-UPG-1, I-4: a reimage replaces the OS disk (the version changes, the
// instance boots again) and keeps every byte of the data disk.
func testReimage(t *testing.T, w *World) {
	m := Model("reimage", 3, plan.HealthExtension)
	m.Zones = []string{"1", "2"}
	create(t, w, m, V1)
	before := digests(t, w, m.Name)
	if len(before) != 3 || before[0] == before[1] || before[1] == before[2] {
		t.Fatalf("initial data digests %x: want one distinct digest per instance", before)
	}
	reimage(t, w, m.Name, 1, V2)
	obs, err := w.Fleet.Observe(context.Background(), m.Name)
	if err != nil {
		t.Fatal(err)
	}
	if obs[1].Version != V2 || plan.HealthyOn(&obs[1], V2, m.Health) {
		t.Fatalf("right after the reimage instance 1 is %+v: want version %s, not yet healthy (it boots)", obs[1], V2)
	}
	obs = waitFor(t, w, m.Name, "instance 1 healthy on "+V2, instance(1, func(in *plan.Instance) bool { return plan.HealthyOn(in, V2, m.Health) }))
	for _, i := range []int{0, 2} {
		if !plan.HealthyOn(&obs[i], V1, m.Health) {
			t.Fatalf("instance %d was not reimaged but is %+v", i, obs[i])
		}
	}
	if after := digests(t, w, m.Name); !slices.Equal(before, after) {
		t.Fatalf("data disks changed by a reimage: %x -> %x", before, after)
	}
}

// R-ROLLBACK-1: a rollback is a reimage to the previous version; the data
// survives both.
func testRollback(t *testing.T, w *World) {
	m := Model("rollback", 2, plan.HealthExtension)
	w.Fleet.SetBadVersion(VNeverHealth, fault.NeverHealthy)
	create(t, w, m, V1)
	before := digests(t, w, m.Name)
	reimage(t, w, m.Name, 0, VNeverHealth)
	waitFor(t, w, m.Name, "instance 0 unhealthy on the bad version", instance(0, func(in *plan.Instance) bool {
		return in.Version == VNeverHealth && in.Running && in.Provisioning == plan.ProvisioningSucceeded && in.Health == plan.HealthUnhealthy
	}))
	reimage(t, w, m.Name, 0, V1)
	waitFor(t, w, m.Name, "instance 0 back and healthy on "+V1, allHealthyOn(V1, m.Health))
	if after := digests(t, w, m.Name); !slices.Equal(before, after) {
		t.Fatalf("data disks changed by upgrade and rollback: %x -> %x", before, after)
	}
}

// R-HEALTH-1, R-HEALTH-2: what each health mode makes of boots, grace
// periods and the fault switches, read through the planner's own notions
// (HealthyOn, CountsUnhealthy).
func testHealth(t *testing.T, w *World, mode plan.HealthMode) {
	m := Model("health-"+mode.String(), 2, mode)
	// A boot counts from the reimage's start (on Docker the engine's work is
	// part of it): long enough that a busy engine still returns from the
	// reimage before it ends (3 minutes, 3 s at ×60, was not on a slow day
	// with the other Docker tests running alongside).
	m.BootTime = 10 * time.Minute
	// The Initializing window is seen once, so it must outlast what stands
	// between the agent's state and an observation of it: on Docker the
	// agent's report of Initializing (pushed over HTTP by a process that,
	// under load, runs late; a report the collector does not answer within
	// a heartbeat is dropped for the next) plus one Observe (a container
	// list on a busy engine). The reference grace of 2 minutes is 2 s at
	// ×60: a loaded machine missed it once in 8 runs, Healthy having
	// replaced Initializing before any observation read it. 10 minutes
	// (10 s at ×60) is the bound: 5× the window that was missed.
	if mode == plan.HealthExtension {
		m.AppHealth.GracePeriod = initializingWindow
	}
	create(t, w, m, V1)
	healthy := func(in *plan.Instance) bool { return plan.HealthyOn(in, in.Version, mode) }
	counted := func(in *plan.Instance) bool { return plan.CountsUnhealthy(in, mode) }

	// A reimage: not running while it boots, then (extension) Initializing
	// for the grace period, then healthy.
	reimage(t, w, m.Name, 0, V2)
	obs, err := w.Fleet.Observe(context.Background(), m.Name)
	if err != nil {
		t.Fatal(err)
	}
	if obs[0].Running || healthy(&obs[0]) || !counted(&obs[0]) {
		t.Fatalf("right after the reimage instance 0 is %+v: want not running (it boots)", obs[0])
	}
	if mode == plan.HealthExtension {
		waitFor(t, w, m.Name, "instance 0 Initializing in its grace period", instance(0, func(in *plan.Instance) bool {
			return in.Running && in.Health == plan.HealthInitializing
		}))
	}
	waitFor(t, w, m.Name, "instance 0 healthy on "+V2, instance(0, healthy))

	// The app turns unhealthy: a probe or the extension sees it; without
	// either, running with extensions provisioned is healthy (R-HEALTH-2).
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.AppUnhealthy, On: true})
	if mode == plan.HealthNone {
		w.Wait(context.Background(), m.AppHealth.Interval()*3)
		obs := waitFor(t, w, m.Name, "an observation", func([]plan.Instance) bool { return true })
		if !healthy(&obs[1]) {
			t.Fatalf("without probe or extension an unhealthy app is not seen, but instance 1 is %+v", obs[1])
		}
	} else {
		waitFor(t, w, m.Name, "instance 1 Unhealthy", instance(1, func(in *plan.Instance) bool {
			return in.Running && in.Health == plan.HealthUnhealthy && counted(in)
		}))
		// The extension lies, a probe does not.
		inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Lie, On: true})
		want := plan.HealthHealthy
		if mode == plan.HealthProbe {
			want = plan.HealthUnhealthy
		}
		w.Wait(context.Background(), m.AppHealth.Interval()*3)
		waitFor(t, w, m.Name, "instance 1 "+want.String()+" with the extension lying", instance(1, func(in *plan.Instance) bool { return in.Health == want }))
		inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Lie, On: false})
	}
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.AppUnhealthy, On: false})
	waitFor(t, w, m.Name, "instance 1 healthy again", instance(1, healthy))

	// Paused: running, but answering nothing.
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Pause, On: true})
	obs = waitFor(t, w, m.Name, "instance 1 paused", instance(1, func(in *plan.Instance) bool {
		return in.Running && in.Health != plan.HealthHealthy
	}))
	wantPaused := plan.HealthUnknown
	if mode == plan.HealthProbe {
		wantPaused = plan.HealthUnhealthy
	}
	if obs[1].Health != wantPaused || counted(&obs[1]) != (mode != plan.HealthNone) {
		t.Fatalf("paused instance 1 is %+v: want health %s", obs[1], wantPaused)
	}
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Pause, On: false})
	waitFor(t, w, m.Name, "instance 1 healthy after unpause", instance(1, healthy))

	// Down: not running, counted unhealthy; up again it boots on the same
	// OS disk and version.
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Down, On: true})
	waitFor(t, w, m.Name, "instance 1 down", instance(1, func(in *plan.Instance) bool {
		return !in.Running && in.Health == plan.HealthUnknown && counted(in) && in.Version == V1
	}))
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Down, On: false})
	waitFor(t, w, m.Name, "instance 1 healthy after the restart", instance(1, func(in *plan.Instance) bool { return healthy(in) && in.Version == V1 }))

	if mode == plan.HealthNone {
		return
	}
	// Flap: healthy and unhealthy in turn.
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Flap, On: true, Period: 2 * time.Minute})
	waitFor(t, w, m.Name, "instance 1 in the unhealthy half of a flap", instance(1, func(in *plan.Instance) bool { return in.Health == plan.HealthUnhealthy }))
	waitFor(t, w, m.Name, "instance 1 in the healthy half of a flap", instance(1, healthy))
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.Flap, On: false})
}

// R-CRED-1: an extension whose SAS has expired fails provisioning on the
// next boot; a new token in the model and a reimage recover the instance.
// The extension-failure switch does the same.
func testExpiredSAS(t *testing.T, w *World) {
	ctx := context.Background()
	m := Model("sas", 2, plan.HealthExtension)
	m.Extensions = []orchestrator.Extension{
		{Name: "install", Publisher: "Microsoft.Azure.Extensions", Type: "CustomScript", TypeHandlerVersion: "2.1", SASExpiresAt: w.Now().Add(24 * time.Hour).Truncate(time.Second)},
		{Name: "monitor", Publisher: "Microsoft.Azure.Monitor", Type: "AzureMonitorLinuxAgent", ProvisionAfterExtensions: []string{"install"}},
	}
	create(t, w, m, V1)
	// The token now expires a minute from now, and that minute passes.
	expiry := w.Now().Add(time.Minute).Truncate(time.Second)
	m.Extensions[0].SASExpiresAt = expiry
	if err := w.Fleet.UpdateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	w.Wait(ctx, expiry.Sub(w.Now())+time.Second)
	if !w.Now().After(expiry) {
		t.Fatalf("the clock is at %s, before the expiry %s", w.Now(), expiry)
	}
	reimage(t, w, m.Name, 0, V2)
	waitFor(t, w, m.Name, "instance 0 failed provisioning", instance(0, func(in *plan.Instance) bool {
		return in.Version == V2 && in.Provisioning == plan.ProvisioningFailed && plan.CountsUnhealthy(in, m.Health)
	}))
	// Instance 1 did not boot since: still fine.
	obs := waitFor(t, w, m.Name, "an observation", func([]plan.Instance) bool { return true })
	if !plan.HealthyOn(&obs[1], V1, m.Health) {
		t.Fatalf("instance 1 was not reimaged but is %+v", obs[1])
	}

	m.Extensions[0].SASExpiresAt = w.Now().Add(24 * time.Hour).Truncate(time.Second)
	if err := w.Fleet.UpdateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	reimage(t, w, m.Name, 0, V2)
	waitFor(t, w, m.Name, "instance 0 recovered", instance(0, func(in *plan.Instance) bool { return plan.HealthyOn(in, V2, m.Health) }))

	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.ExtensionFailure, On: true})
	reimage(t, w, m.Name, 1, V2)
	waitFor(t, w, m.Name, "instance 1 failed provisioning", instance(1, func(in *plan.Instance) bool {
		return in.Version == V2 && in.Running && in.Provisioning == plan.ProvisioningFailed
	}))
	inject(t, w, m.Name, []int{1}, fault.Switch{Kind: fault.ExtensionFailure, On: false})
	reimage(t, w, m.Name, 1, V2)
	waitFor(t, w, m.Name, "instance 1 recovered", instance(1, func(in *plan.Instance) bool { return plan.HealthyOn(in, V2, m.Health) }))
}

// Bad images: one crashes on boot (never running), one fails every
// extension; a reimage back to a good version recovers both.
func testBadImages(t *testing.T, w *World) {
	m := Model("bad", 2, plan.HealthExtension)
	w.Fleet.SetBadVersion(VCrash, fault.CrashOnBoot)
	w.Fleet.SetBadVersion(VFailsExt, fault.FailsExtensions)
	create(t, w, m, V1)
	reimage(t, w, m.Name, 0, VCrash)
	reimage(t, w, m.Name, 1, VFailsExt)
	waitFor(t, w, m.Name, "instance 1 failed provisioning", instance(1, func(in *plan.Instance) bool {
		return in.Version == VFailsExt && in.Running && in.Provisioning == plan.ProvisioningFailed
	}))
	// Well past any boot: the crashing image never came up.
	w.Wait(context.Background(), 2*m.BootTime)
	obs := waitFor(t, w, m.Name, "an observation", func([]plan.Instance) bool { return true })
	if in := obs[0]; in.Version != VCrash || in.Running || in.Provisioning == plan.ProvisioningSucceeded || !plan.CountsUnhealthy(&in, m.Health) {
		t.Fatalf("instance 0 on the crashing image is %+v", in)
	}
	reimage(t, w, m.Name, 0, V1)
	reimage(t, w, m.Name, 1, V1)
	waitFor(t, w, m.Name, "both back on "+V1, allHealthyOn(V1, m.Health))
}

// A new fleet object over the same instances sees what the old one saw,
// keeps the fault switches, and can reimage.
func testReopen(t *testing.T, w *World) {
	m := Model("reopen", 3, plan.HealthExtension)
	create(t, w, m, V1)
	reimage(t, w, m.Name, 2, V2)
	inject(t, w, m.Name, []int{0}, fault.Switch{Kind: fault.AppUnhealthy, On: true})
	want := waitFor(t, w, m.Name, "instance 2 on "+V2+" and instance 0 unhealthy", func(obs []plan.Instance) bool {
		return plan.HealthyOn(&obs[2], V2, m.Health) && obs[0].Health == plan.HealthUnhealthy
	})
	data := digests(t, w, m.Name)
	f, err := w.Reopen(context.Background())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	w.Fleet = f
	got, err := f.Observe(context.Background(), m.Name)
	if err != nil {
		t.Fatalf("observe after reopen: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after reopen:\n%swant:\n%s", dump(got), dump(want))
	}
	if d := digests(t, w, m.Name); !slices.Equal(d, data) {
		t.Fatalf("data digests after reopen %x, want %x", d, data)
	}
	// The switch survives a reimage through the new object.
	reimage(t, w, m.Name, 0, V2)
	waitFor(t, w, m.Name, "instance 0 on "+V2+", still unhealthy", instance(0, func(in *plan.Instance) bool {
		return in.Version == V2 && in.Running && in.Health == plan.HealthUnhealthy
	}))
	inject(t, w, m.Name, []int{0}, fault.Switch{Kind: fault.AppUnhealthy, On: false})
	waitFor(t, w, m.Name, "every instance healthy on "+V2, func(obs []plan.Instance) bool {
		return plan.HealthyOn(&obs[0], V2, m.Health) && plan.HealthyOn(&obs[2], V2, m.Health)
	})
}

// journal is what a Recorder or a Watcher reported, by set.
type journal struct {
	mu       sync.Mutex
	reimaged []string // "set/id version"
	reported map[string]plan.Instance
}

func (j *journal) Reimaged(_ time.Time, set string, id int, version string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.reimaged = append(j.reimaged, fmt.Sprintf("%s/%d %s", set, id, version))
}

func (j *journal) Reported(_ time.Time, set string, in plan.Instance) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.reported[fmt.Sprintf("%s/%d", set, in.ID)] = in
}

func (j *journal) has(reimage string, key string, cond func(*plan.Instance) bool) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	in, ok := j.reported[key]
	return slices.Contains(j.reimaged, reimage) && ok && cond(&in)
}

// The optional capabilities a backend declares hold what they promise
// around one reimage: a journal (Recorder or Watcher) hears it and the
// instance's report after it, a Scheduled backend has its boot pending, a
// ChangeFeed names the set. A backend must declare a journal: without one
// the invariants cannot be checked.
func testCapabilities(t *testing.T, w *World) {
	ctx := context.Background()
	m := Model("capabilities", 2, plan.HealthExtension)
	j := &journal{reported: map[string]plan.Instance{}}
	switch f := w.Fleet.(type) {
	case backend.Watcher:
		stop, err := f.WatchFleet(ctx, func(at time.Time, set string, in plan.Instance, reimaged bool) {
			if reimaged {
				j.Reimaged(at, set, in.ID, in.Version)
			}
			j.Reported(at, set, in)
		})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		t.Cleanup(stop)
	case backend.Recorder:
		f.Record(j)
	default:
		t.Fatalf("%T is neither a backend.Recorder nor a backend.Watcher: no journal, no invariants", w.Fleet)
	}
	create(t, w, m, V1)
	cf, feed := w.Fleet.(backend.ChangeFeed)
	if feed {
		cf.ChangedSets() // what creating the set changed
	}
	reimage(t, w, m.Name, 0, V2)
	if sch, ok := w.Fleet.(backend.Scheduled); ok {
		if next, pending := sch.NextEvent(); !pending || !next.After(w.Now()) {
			t.Fatalf("right after a reimage the next event is %s (pending %t): want the boot's end, after now (%s)", next, pending, w.Now())
		}
	}
	if feed {
		if sets, all := cf.ChangedSets(); !all && !slices.Contains(sets, m.Name) {
			t.Fatalf("changed sets after a reimage of %s: %v", m.Name, sets)
		}
	}
	healthy := func(in *plan.Instance) bool { return plan.HealthyOn(in, V2, m.Health) }
	waitFor(t, w, m.Name, "instance 0 healthy on "+V2, instance(0, healthy))
	// A watcher reports from another goroutine, a little after the fact.
	deadline := w.Now().Add(budget)
	for !j.has(m.Name+"/0 "+V2, m.Name+"/0", healthy) {
		if w.Now().After(deadline) {
			j.mu.Lock()
			t.Fatalf("the journal never heard the reimage and instance 0 healthy on %s: reimages %v, last report %+v", V2, j.reimaged, j.reported[m.Name+"/0"])
		}
		w.Wait(ctx, step)
		waitFor(t, w, m.Name, "an observation", func([]plan.Instance) bool { return true })
	}
}
