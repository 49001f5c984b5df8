package harness

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/clock"
)

const chaotic = `name: det
seed: SEED
scaleSets:
  - {name: a, instances: 40, zones: ["1", "2"], image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
  - {name: b, region: westus, instances: 25, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 10m}
timeline:
  - {at: 0s, fault: slow-boot, count: 3, delay: 6m}
  - {on: "batch 3 started", fault: maintenance, percent: 10, duration: 15m}
  - {on: "rollback started", fault: crash, count: 1, duration: 2m}
`

// runResult parses a scenario text and runs it on the sim.
func runResult(t *testing.T, src string, opts Options) *Result {
	t.Helper()
	sc, err := scenario.Parse("det.yaml", []byte(src), Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runText(t *testing.T, src string) string {
	t.Helper()
	b, err := json.Marshal(runResult(t, src, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// One seed, one history, byte for byte; another seed, another history.
func TestDeterministic(t *testing.T) {
	one := strings.Replace(chaotic, "SEED", "7", 1)
	a, b := runText(t, one), runText(t, one)
	if a != b {
		t.Fatal("the same seed gave two different results")
	}
	if c := runText(t, strings.Replace(chaotic, "SEED", "8", 1)); c == a {
		t.Fatal("another seed gave the very same result: randomness does not come from the seed")
	}
}

// Selections: percent rounds up, zone and update domain pick by placement,
// count draws from the seed.
func TestSelectIDs(t *testing.T) {
	src := `name: sel
scaleSets:
  - {name: s, instances: 10, zones: ["1", "2"], updateDomains: 5, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
`
	sc, err := scenario.Parse("sel.yaml", []byte(src), Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorld(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p21, ud := 21, 2
	count := 4
	for _, c := range []struct {
		name string
		e    scenario.Entry
		want string
	}{
		{"percent 21 of 10 rounds up to 3", scenario.Entry{Percent: &p21}, "3"},
		{"zone 2", scenario.Entry{Zone: "2"}, "[1 3 5 7 9]"},
		{"update domain 2", scenario.Entry{UpdateDomain: &ud}, "[4 5]"},
		{"ids", scenario.Entry{Instances: []int{8, 1}}, "[8 1]"},
		{"count 4", scenario.Entry{Count: &count}, "4"},
		{"everything", scenario.Entry{}, "10"},
	} {
		ids := w.selectIDs("s", &c.e, 0)
		got := jsonText(ids)
		if !strings.HasPrefix(c.want, "[") {
			got = jsonText(len(ids))
		}
		if strings.ReplaceAll(got, ",", " ") != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	a := w.selectIDs("s", &scenario.Entry{Count: &count}, 3)
	b := w.selectIDs("s", &scenario.Entry{Count: &count}, 3)
	if jsonText(a) != jsonText(b) {
		t.Errorf("the same entry drew %v then %v", a, b)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// I-7 reads two listings of foreign objects: removed and changed objects
// are what the run may have touched; new ones are someone else's.
func TestDiffObjects(t *testing.T) {
	before := []string{"container abc /x state=running", "network n1 foo driver=bridge", "volume v1 driver=local"}
	after := []string{"container abc /x state=exited", "volume v1 driver=local", "image i9 tags=none"}
	gone, changed, added := diffObjects(before, after)
	if len(gone) != 1 || !strings.HasPrefix(gone[0], "network n1") {
		t.Errorf("gone %v", gone)
	}
	if len(changed) != 1 || !strings.Contains(changed[0], "state=running -> container abc /x state=exited") {
		t.Errorf("changed %v", changed)
	}
	if len(added) != 1 || !strings.HasPrefix(added[0], "image i9") {
		t.Errorf("added %v", added)
	}
}

// I-6 reads the metrics as a scraper would: counters that disagree with the
// history entries, for an instance outcome or a rollout status, fail it.
func TestMetricsDisagreeingWithHistoryFailI6(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t metricTotals)
		want   string
	}{
		{"agree", func(metricTotals) {}, ""},
		{"one upgrade too many", func(m metricTotals) { m.set("a").upgraded++ }, "metrics say 41 upgraded"},
		{"a rollback never made", func(m metricTotals) { m.set("b").rolledBack++ }, "1 rolled back"},
		{"a status never reached", func(m metricTotals) { m.rollouts["Faulted"]++ }, `osupgrade_rollouts_total{status="Faulted"} is 1`},
		{"a set the orchestrator does not hold", func(m metricTotals) { m.set("c").failed++ }, "a scale set the orchestrator does not hold"},
	}
	src := `name: metrics
scaleSets:
  - {name: a, instances: 40, zones: ["1", "2"], image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
  - {name: b, instances: 25, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
`
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			sc, err := scenario.Parse("metrics.yaml", []byte(src), Vocabulary())
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWorld(ctx, sc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(ctx)
			if err := w.Run(ctx, Options{}); err != nil {
				t.Fatal(err)
			}
			c.tamper(w.metricsBefore)
			r, err := w.Result(ctx)
			if err != nil {
				t.Fatal(err)
			}
			inv := r.Invariants[5]
			if inv.ID != "I-6" {
				t.Fatalf("invariant 6 is %s", inv.ID)
			}
			switch {
			case c.want == "" && (!inv.OK || !strings.Contains(inv.Detail, "metrics agree with the history entries: 65 upgraded")):
				t.Fatalf("untouched metrics: ok %v, %s", inv.OK, inv.Detail)
			case c.want != "" && (inv.OK || !strings.Contains(inv.Detail, c.want)):
				t.Fatalf("tampered metrics: ok %v, %s; want a violation naming %q", inv.OK, inv.Detail, c.want)
			}
		})
	}
}

// An instance healthy only while the orchestrator was blocked in slow engine
// calls, and stopped before it looked again, may rightly count as failed:
// I-6's lower bound is what the fleet told the orchestrator, not every
// moment the fleet was healthy (chaos seed 20261127, run 230, shrunk).
func TestHealthyOnlyWhileTheOrchestratorWasBlockedMayCountAsFailed(t *testing.T) {
	src := `name: blocked
seed: 1437462572
until: 2d
scaleSets:
  - name: web
    instances: 38
    zones: ["1", "2"]
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 18.04.202101010
    health: none
    upgradePolicy: {enableAutomaticOSUpgrade: false}
images:
  - {image: Canonical:UbuntuServer:18.04-LTS:18.04.202102010, publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
  - {at: 0s, fault: engine-error, count: 30, kind: slow, delay: 20s}
  - {at: 496s, fault: stop, percent: 21}
`
	r := runResult(t, src, Options{})
	for _, inv := range r.Invariants {
		if !inv.OK {
			t.Errorf("%s: %s", inv.ID, inv.Detail)
		}
	}
	p := r.ScaleSets[0].History[0].Properties
	if p.Progress.FailedInstanceCount != 3 || p.Progress.SuccessfulInstanceCount != 20 {
		t.Fatalf("the case no longer arises: %+v", p.Progress)
	}
}

// A timed run lists every fault application with its wall time, the
// slowest first; an untimed one lists none (results stay byte-identical).
func TestFaultTimings(t *testing.T) {
	src := strings.Replace(chaotic, "SEED", "7", 1)
	// A wall clock whose readings grow quadratically: each application
	// takes longer than the one before.
	var readings int
	wall := func() time.Time {
		readings++
		return clock.Epoch.Add(time.Duration(readings*readings) * time.Millisecond)
	}
	r := runResult(t, src, Options{Wall: wall})
	if len(r.FaultTimings) < 3 {
		t.Fatalf("%d fault applications timed, want one per applied fault (3 entries on 2 sets): %+v", len(r.FaultTimings), r.FaultTimings)
	}
	for i := 1; i < len(r.FaultTimings); i++ {
		if r.FaultTimings[i].Took() > r.FaultTimings[i-1].Took() {
			t.Fatalf("not slowest first: %+v", r.FaultTimings)
		}
	}
	if r.FaultTimings[0].Took() <= 0 || r.FaultTimings[0].Fault == "" {
		t.Fatalf("slowest: %+v", r.FaultTimings[0])
	}
	if untimed := runResult(t, src, Options{}); len(untimed.FaultTimings) != 0 {
		t.Fatalf("an untimed run lists %d timings", len(untimed.FaultTimings))
	}
}

func TestNextPollLeavesTheFleetIdleAsLongAsObservingTook(t *testing.T) {
	t0 := clock.Epoch
	const poll = 5 * time.Second
	for _, tc := range []struct {
		name        string
		virtual     bool
		stepEnded   time.Duration // after t0
		observeTook time.Duration
		want        time.Duration // after t0
	}{
		{"quick observation: every poll", false, time.Second, 500 * time.Millisecond, poll},
		{"slow observation: as long idle as it took", false, 5 * time.Second, 4 * time.Second, 9 * time.Second},
		{"long act, quick observation: soon after", false, 20 * time.Second, time.Second, 21 * time.Second},
		{"virtual clock: every poll", true, 5 * time.Second, 4 * time.Second, poll},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clock.NewVirtual(t0.Add(tc.stepEnded))
			w := &World{Clock: c, ctl: &controlPlane{observeTook: tc.observeTook}}
			if tc.virtual {
				w.virtual = c
			}
			if got := w.nextPoll(t0, poll); !got.Equal(t0.Add(tc.want)) {
				t.Errorf("nextPoll = t0+%s, want t0+%s", got.Sub(t0), tc.want)
			}
		})
	}
}

// manualAtEnd's last entry is a manual upgrade of every instance (the
// R-CRED-1 recovery): when the timeline has fired and no rollout runs, the
// fleet is still reimaging, booting, then in the health grace period.
const manualAtEnd = `name: manual-at-end
scaleSets:
  - name: web
    instances: 5
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 1.0.0
    bootTime: 2m
    appHealth: {gracePeriod: 1m}
timeline:
  - {at: 1h, manualUpgrade: all}
`

// A run ends only when the fleet has carried the manual upgrade out, also
// where the world learns of the fleet's changes only by observing it (as on
// Docker, where a run ended with instances Updating and Unknown that the
// simulator showed Healthy).
func TestRunEndsWhenTheManualUpgradeHasSettled(t *testing.T) {
	for _, observeOnly := range []bool{false, true} {
		r := runResult(t, manualAtEnd, Options{observeOnly: observeOnly})
		fs := r.FinalState[0]
		for _, in := range fs.Instances {
			if in.ProvisioningState != "Succeeded" || in.Health != "Healthy" || in.Version != "1.0.0" || !in.DataIntact {
				t.Errorf("observe only %v: instance %d ended %s/%s on %s (data intact %v), want Succeeded/Healthy on 1.0.0", observeOnly, in.ID, in.ProvisioningState, in.Health, in.Version, in.DataIntact)
			}
		}
		if got := jsonText(fs.Batches); got != `[{"kind":"same-version","version":"1.0.0","instances":[0,1,2,3,4]}]` {
			t.Errorf("observe only %v: the fleet's reimages %s, want the manual upgrade of all five", observeOnly, got)
		}
		if r.scenarioDuration < time.Hour+3*time.Minute || r.scenarioDuration > time.Hour+3*time.Minute+10*time.Second {
			t.Errorf("observe only %v: the run took %s of scenario time, want the manual upgrade at 1h, its 2m boot and 1m grace period, and at most a 5s poll", observeOnly, r.scenarioDuration)
		}
		if len(r.Problems) != 0 {
			t.Errorf("observe only %v: problems %v", observeOnly, r.Problems)
		}
	}
}

// A fleet that never settles (a stopped instance cannot boot its new OS
// disk) ends the run after SettleLimit with a problem naming the instance,
// not a hang and not silence.
func TestRunThatNeverSettlesEndsWithAProblem(t *testing.T) {
	src := strings.Replace(manualAtEnd, "timeline:\n", "timeline:\n  - {at: 0s, fault: stop, instances: [2]}\n", 1)
	r := runResult(t, src, Options{})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "did not settle within 30m0s") || !strings.Contains(r.Problems[0], "web/2 1.0.0 Updating") {
		t.Fatalf("problems %q, want one naming web/2 still Updating", r.Problems)
	}
	// The others' boot and grace period (3m) end the run's own work.
	if want := time.Hour + 3*time.Minute + SettleLimit; r.scenarioDuration < want || r.scenarioDuration > want+10*time.Second {
		t.Errorf("the run took %s of scenario time, want %s", r.scenarioDuration, want)
	}
	for _, in := range r.FinalState[0].Instances {
		if in.ID != 2 && in.ProvisioningState != "Succeeded" {
			t.Errorf("instance %d ended %s", in.ID, in.ProvisioningState)
		}
	}
}

// R-HEALTH-2 as the fleet reports it: without a probe or the health
// extension nobody asks the app, and an instance running with every
// extension provisioned reads Healthy on the sim as on Docker (the sim read
// Unhealthy, from the app, and Docker Healthy: the differential check
// found it on health-none-manual).
func TestHealthNoneReportsProvisioning(t *testing.T) {
	sc, err := scenario.Load("../scenarios/health-none-manual.yaml", Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range r.FinalState[0].Instances {
		if in.Health != "Healthy" || in.ProvisioningState != "Succeeded" {
			t.Errorf("instance %d reads %s/%s, want Succeeded/Healthy: the app is not asked", in.ID, in.ProvisioningState, in.Health)
		}
	}
}

// A fleet that does not say when it changes shows a fault's end only when
// its health probes next run: the run gives them their period (interval ×
// (probes + 1)) before it ends. On Docker a run ended just after a
// maintenance window with instances still Unhealthy that the simulator
// showed Healthy (maintenance-stops-after-batch, found by --fleet both).
func TestRunGivesTheProbesAFaultsEnd(t *testing.T) {
	src := `name: fault-end
scaleSets:
  - {name: web, instances: 5, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0", appHealth: {intervalInSeconds: 10, numberOfProbes: 2}}
timeline:
  - {at: 1h, fault: maintenance, instances: [1, 3], duration: 20m}
`
	for _, c := range []struct {
		observeOnly bool
		want        time.Duration
	}{
		{false, 80 * time.Minute},               // the sim says when it changes: at once
		{true, 80*time.Minute + 30*time.Second}, // 10s × (2 + 1)
	} {
		r := runResult(t, src, Options{observeOnly: c.observeOnly})
		if r.scenarioDuration < c.want || r.scenarioDuration > c.want+5*time.Second {
			t.Errorf("observe only %v: the run took %s, want %s and at most a 5s poll", c.observeOnly, r.scenarioDuration, c.want)
		}
		for _, in := range r.FinalState[0].Instances {
			if in.Health != "Healthy" {
				t.Errorf("observe only %v: instance %d ended %s", c.observeOnly, in.ID, in.Health)
			}
		}
	}
}

// addressedInventory says the fleet's client addressed the listed lines.
type addressedInventory map[string]bool

func (a addressedInventory) Foreign(context.Context) ([]string, error) { return nil, nil }
func (a addressedInventory) Addressed(line string) bool                { return a[line] }

// I-7 blames the run only for a foreign object its own engine client
// addressed; one someone else removed meanwhile is noted, not counted.
func TestSplitAddressed(t *testing.T) {
	inv := addressedInventory{"container abc /x state=running": true, "volume v1 driver=local": true}
	lines := []string{"container abc /x state=running -> container abc /x state=exited", "volume v1 driver=local", "network n1 foo driver=bridge"}
	ours, others := splitAddressed(inv, lines)
	if len(ours) != 2 || !strings.HasPrefix(ours[0], "container abc") || ours[1] != "volume v1 driver=local" {
		t.Errorf("addressed %v", ours)
	}
	if len(others) != 1 || !strings.HasPrefix(others[0], "network n1") {
		t.Errorf("others %v", others)
	}
}
