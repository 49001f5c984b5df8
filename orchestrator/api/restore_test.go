package api

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
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

// forgetfulFleet stands for the Docker fleet in the switch ledger's test:
// a fleet that is not the simulator as serve holds it, and that comes back
// from a restart with its sets but none of their switches.
type forgetfulFleet struct{ *sim.Fleet }

// The switches a fleet other than the simulator cannot read back (down and
// app-unhealthy counts, network faults) are turned on again, as many times
// as they were on, when serve restarts; the others are left to the fleet.
func TestRestartTurnsSavedSwitchesOnAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var model orchestrator.ScaleSet
	var fleets []*sim.Fleet
	factory := func(_ context.Context, c backend.Config) (backend.Fleet, error) {
		f := sim.New(c.Clock, 1)
		if model.Name != "" { // a restart: the sets are there, their switches are not
			if err := f.CreateScaleSet(ctx, model, "v0"); err != nil {
				return nil, err
			}
		}
		fleets = append(fleets, f)
		return forgetfulFleet{f}, nil
	}
	open := func() *Server {
		s, err := Open(ctx, Options{DataDir: dir, Fleet: "docker", Backend: backend.Factory{Clock: backend.WallClock, Open: factory}, Clock: "virtual", Token: testToken, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open()
	call(t, s, "PUT", setPath(""), scaleSetBody(6), http.StatusOK, http.StatusCreated)
	model = fleets[0].Snapshot().Sets[0].Model
	for _, in := range []map[string]any{
		{"instances": []int{0}, "fault": "app-unhealthy", "on": true},
		{"instances": []int{0}, "fault": "app-unhealthy", "on": true},
		{"instances": []int{0}, "fault": "app-unhealthy", "on": false}, // still on once
		{"instances": []int{1}, "fault": "down", "on": true},
		{"instances": []int{2}, "fault": "partition", "on": true},
		{"instances": []int{3}, "fault": "loss", "on": true, "percent": 100},
		{"instances": []int{3}, "fault": "loss", "on": false},
		{"instances": []int{4}, "fault": "pause", "on": true}, // Docker reads pause back itself
	} {
		in["scaleSet"] = crashSet
		call(t, s, "POST", "/osupgrade/faults", in, http.StatusOK)
	}
	want := fleets[0].Snapshot().Sets[0].Instances
	s.Close()

	open()
	got := fleets[1].Snapshot().Sets[0].Instances
	for i := range 4 {
		if !reflect.DeepEqual(got[i].Faults, want[i].Faults) || got[i].App != want[i].App || got[i].Down != want[i].Down {
			t.Errorf("instance %d after the restart: faults %+v app %d down %d, want %+v app %d down %d", i, got[i].Faults, got[i].App, got[i].Down, want[i].Faults, want[i].App, want[i].Down)
		}
	}
	if got[4].Faults != nil {
		t.Errorf("instance 4: pause turned on again by serve (%+v): the fleet reads it back itself", got[4].Faults)
	}
}
