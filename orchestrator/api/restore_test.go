package api

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// A state.db written before the fleet's snapshots were saved (the fleet
// and instance records only) restores as it always did: every instance
// booted and healthy on the version the fleet log recorded.
func TestRestoreWithoutSnapshotAsBefore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openCrashServer(t, dir)
	body := scaleSetBody(5)
	body.Tags[tagBootTime] = to.Ptr("60s")
	call(t, s, "PUT", setPath(""), body, http.StatusOK, http.StatusCreated)
	call(t, s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, http.StatusCreated)
	call(t, s, "POST", setPath("/osRollingUpgrade"), nil, http.StatusAccepted)
	// Batch 1 (one instance) reimaged and booting: the snapshot would
	// say so, the old records cannot.
	before, err := s.fleet.inner.Observe(ctx, crashSet)
	if err != nil {
		t.Fatal(err)
	}
	var reimaged []int
	for _, in := range before {
		if in.Version == killTarget {
			reimaged = append(reimaged, in.ID)
		}
	}
	if len(reimaged) == 0 || before[reimaged[0]].Health == plan.HealthHealthy {
		t.Fatalf("no instance booting the target after the start: %+v", before)
	}
	for _, kind := range []string{kindSimFleet, kindSimSet} {
		if err := s.store.DeletePrefix(ctx, kind, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openCrashServer(t, dir)
	after, err := s.fleet.inner.Observe(ctx, crashSet)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range after {
		want := before[i]
		want.Running, want.Provisioning, want.Health = true, plan.ProvisioningSucceeded, plan.HealthHealthy
		if in != want {
			t.Fatalf("instance %d restored as %+v, want %+v", i, in, want)
		}
	}
}

// A snapshot in a format this build does not read stops the server with an
// error that says so, rather than a guess.
func TestRestoreRefusesUnknownSnapshotFormat(t *testing.T) {
	dir := t.TempDir()
	s := openCrashServer(t, dir)
	call(t, s, "PUT", setPath(""), scaleSetBody(2), http.StatusOK, http.StatusCreated)
	if err := s.store.PutResource(context.Background(), kindSimFleet, simFleetKey, []byte(`{"format":99,"seed":1}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), Options{DataDir: dir, Clock: "virtual", Token: testToken, Seed: 1})
	if !errors.Is(err, sim.ErrSnapshotFormat) {
		t.Fatalf("open with a snapshot of format 99: %v, want %v", err, sim.ErrSnapshotFormat)
	}
}
