package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// requireDocker skips without an engine, except where the engine is
// required (CI, OSUPGRADE_REQUIRE_DOCKER=1): there a missing engine fails.
func requireDocker(t *testing.T) {
	t.Helper()
	cli, err := docker.Connect(context.Background())
	if err == nil {
		cli.Close()
		return
	}
	if os.Getenv("CI") == "true" || os.Getenv("OSUPGRADE_REQUIRE_DOCKER") == "1" {
		t.Fatalf("the Docker engine is required here: %v", err)
	}
	t.Skipf("no Docker engine (%v); set OSUPGRADE_REQUIRE_DOCKER=1 to make this a failure", err)
}

// `serve --fleet docker`: the SDK creates a 20-instance scale set and starts
// an OS upgrade; 20 containers are replaced in batches of 4 (R-BATCH-1).
func TestSDKDrivesDockerFleet(t *testing.T) {
	requireDocker(t)
	if testing.Short() {
		t.Skip("20 containers take about a minute; skipped with -short")
	}
	// Minutes of wall time, mostly waiting on containers: beside the
	// package's other Docker tests, not after them.
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var fl *docker.Fleet
	factory := func(ctx context.Context, c backend.Config) (backend.Fleet, error) {
		opts, err := docker.ForTest(ctx, docker.Options{RunID: c.RunID, Clock: c.Clock, TimeScale: c.TimeScale})
		if err != nil {
			return nil, err
		}
		f, err := docker.New(ctx, opts)
		fl = f
		return f, err
	}
	// Scale 10: the 5-minute health wait is 30 wall seconds, room enough on
	// a 2-core machine busy with other Docker tests.
	srv, err := Open(ctx, Options{DataDir: t.TempDir(), Fleet: "docker", Backend: backend.Factory{Clock: backend.WallClock, Open: factory}, Clock: "real", TimeScale: 10, WallNow: time.Now, Token: testToken, Seed: 1, Log: os.Stderr})
	if err != nil {
		if errors.Is(err, docker.ErrEngineUnavailable) {
			t.Fatal(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if fl != nil {
			if err := fl.Clean(context.Background()); err != nil {
				t.Errorf("clean: %v", err)
			}
			fl.Close()
		}
		srv.Close()
	})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.StartTLS()
	defer ts.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Run(runCtx)
	e := &env{t: t, ctx: ctx, srv: srv, ts: ts}
	f := e.factory(testToken, "")
	sets, vms, rolling := f.NewVirtualMachineScaleSetsClient(), f.NewVirtualMachineScaleSetVMsClient(), f.NewVirtualMachineScaleSetRollingUpgradesClient()
	wait := &runtime.PollUntilDoneOptions{Frequency: 200 * time.Millisecond}

	body := scaleSetBody(20)
	body.Properties.VirtualMachineProfile.ExtensionProfile.Extensions = body.Properties.VirtualMachineProfile.ExtensionProfile.Extensions[:1]
	poller, err := sets.BeginCreateOrUpdate(ctx, testRG, "web", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(ctx, wait); err != nil {
		t.Fatal(err)
	}
	e.publish("18.04.202609010")
	start, err := rolling.BeginStartOSUpgrade(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := start.PollUntilDone(ctx, wait); err != nil {
		t.Fatal(err)
	}
	all := listVMs(t, vms, "web")
	if len(all) != 20 {
		t.Fatalf("%d VMs, want 20", len(all))
	}
	for _, vm := range all {
		if v := *vm.Properties.StorageProfile.ImageReference.ExactVersion; v != "18.04.202609010" {
			t.Errorf("VM %s runs %s after the upgrade", *vm.InstanceID, v)
		}
	}
	latest, err := rolling.GetLatest(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *latest.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeCompleted || *latest.Properties.Progress.SuccessfulInstanceCount != 20 {
		t.Fatalf("latest: %s with %d successful", *latest.Properties.RunningStatus.Code, *latest.Properties.Progress.SuccessfulInstanceCount)
	}
	var sizes []int
	if err := srv.Orchestrator().View("web", func(r *orchestrator.SetRecord) {
		for _, b := range r.Last().Rollout.Records() {
			sizes = append(sizes, b.Len())
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 5 {
		t.Fatalf("batches %v, want 5 batches of 4", sizes)
	}
	for _, n := range sizes {
		if n != 4 {
			t.Fatalf("batches %v, want 5 batches of 4", sizes)
		}
	}
}
