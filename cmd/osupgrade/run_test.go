package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const passing = `name: small
scaleSets:
  - {name: web, instances: 5, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
expect: {status: Completed, batches: 5, versions: {2.0.0: 5}}
`

// osupgrade run: 0 when every expectation holds, 1 when one fails (naming
// the field, expected and got), 2 on bad input, with nothing run.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	failing := write(t, dir, "failing.yaml", strings.Replace(passing, "batches: 5", "batches: 4", 1))
	bad := write(t, dir, "bad.yaml", strings.Replace(passing, "instances: 5", "instances: 0", 1))
	unknown := write(t, dir, "unknown.yaml", strings.Replace(passing, "name: small", "name: small\ncolour: red", 1))
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"passing", []string{"run", good}, 0, "1 passed, 0 failed", ""},
		{"failing expectation", []string{"run", failing}, 1, "batches expected 4, got 5", ""},
		{"instances 0", []string{"run", good, bad}, 2, "", "bad.yaml:3: scaleSets[0].instances: is 0, want 1 to 1000000"},
		{"unknown field", []string{"run", unknown}, 2, "", "unknown.yaml:2: colour: unknown field"},
		{"no files", []string{"run"}, 2, "", "name at least one scenario"},
		{"bad fleet", []string{"run", "--fleet", "vmware", good}, 2, "", "--fleet is \"vmware\""},
		{"missing file", []string{"run", filepath.Join(dir, "nope.yaml")}, 2, "", "no such file"},
		{"unknown command", []string{"launch"}, 2, "", "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), c.args, &out, &errb)
			if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			if c.code == 2 && strings.Contains(out.String(), "passed") {
				t.Errorf("bad input ran scenarios: %s", out.String())
			}
		})
	}
}

// --json prints, and --out writes, the result contract.
func TestRunResultContract(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", "--json", "--out", out, good}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var r map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"scenario", "seed", "fleet", "scaleSets", "expectations", "scenarioDuration", "wallDuration"} {
		if _, ok := r[k]; !ok {
			t.Errorf("result has no %q", k)
		}
	}
	set := r["scaleSets"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "status", "errorCode", "history", "batches", "instances"} {
		if _, ok := set[k]; !ok {
			t.Errorf("scale set result has no %q", k)
		}
	}
	inst := set["instances"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "zone", "updateDomain", "version", "health", "provisioningState", "rolledBack", "dataIntact"} {
		if _, ok := inst[k]; !ok {
			t.Errorf("instance result has no %q", k)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "small.json")); err != nil {
		t.Errorf("--out wrote no small.json: %v", err)
	}
}

// Every shipped scenario parses and passes on the simulator.
func TestShippedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("the 10^6-instance scenario takes about a second; skipped with -short")
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", "--fleet", "sim", "../../scenarios"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}

// fakeDocker stands a simulated fleet on the scaled real clock in for
// Docker, so that --fleet both can be tested without an engine; resetData
// plants a fleet bug (every reimage replaces the data disk).
func fakeDocker(t *testing.T, resetData bool) *backend.Factory {
	t.Helper()
	fake, err := backend.Lookup("docker") // its properties: a wall clock, its journal slack
	if err != nil {
		t.Fatal(err)
	}
	fake.Available = func(context.Context) error { return nil }
	fake.Open = func(_ context.Context, c backend.Config) (backend.Fleet, error) {
		f := sim.New(c.Clock, 1)
		f.ResetDataOnReimage(resetData)
		return watchedSim{f}, nil
	}
	prev := lookupFleet
	t.Cleanup(func() { lookupFleet = prev })
	lookupFleet = func(name string) (backend.Factory, error) {
		if name == "docker" {
			return fake, nil
		}
		return prev(name)
	}
	return &fake
}

// watchedSim reports the simulator's events as the Docker fleet reports
// the engine's, for the fleet-side journal.
type watchedSim struct{ *sim.Fleet }

func (w watchedSim) WatchFleet(_ context.Context, report func(at time.Time, set string, in plan.Instance, reimaged bool)) (func(), error) {
	w.OnEvent(func(e sim.Event) {
		switch e.Kind {
		case sim.EventReimage:
			report(e.Time, e.Set, plan.Instance{ID: e.ID, Version: e.Version, Provisioning: plan.ProvisioningUpdating}, true)
		case sim.EventState:
			report(e.Time, e.Set, e.State, false)
		}
	})
	return func() {}, nil
}

// --fleet both runs a scenario on both fleets and fails it, exit 1, when
// what they show at the end differs; one that does not fit both runs on
// sim alone, saying why.
func TestRunFleetBoth(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	simOnly := write(t, dir, "sim-only.yaml", strings.Replace(passing, "name: small", "name: sim-only\nfleets: [sim]", 1))
	for _, c := range []struct {
		name      string
		resetData bool
		code      int
		stdout    string
	}{
		{"agree", false, 0, "3 passed, 0 failed"},
		{"differ", true, 1, "✗ small: sim and docker differ: web instance 0: dataIntact true on sim, false on docker"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeDocker(t, c.resetData)
			out := filepath.Join(t.TempDir(), "out")
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), []string{"run", "--fleet", "both", "--time-scale", "3000", "--out", out, good, simOnly}, &stdout, &stderr)
			if code != c.code || !strings.Contains(stdout.String(), c.stdout) {
				t.Fatalf("exit %d, want %d, stdout containing %q\nstdout: %s\nstderr: %s", code, c.code, c.stdout, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), "fleet: sim alone for sim-only, not compared (its expectations are written for sim)") {
				t.Errorf("stderr does not say why sim-only was not compared:\n%s", stderr.String())
			}
			for _, f := range []string{"sim/small.json", "docker/small.json", "sim/sim-only.json"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("--out: %v", err)
				}
			}
		})
	}
	t.Run("no engine", func(t *testing.T) {
		fake := fakeDocker(t, false)
		fake.Available = func(context.Context) error { return errors.New("connection refused") }
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), []string{"run", "--fleet", "both", good}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--fleet both: the docker fleet is not available here: connection refused") {
			t.Fatalf("exit %d, stderr %s", code, stderr.String())
		}
	})
}
