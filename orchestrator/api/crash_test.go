package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/osupgrade/osupgrade/fakes/fault"
)

// The crash tests kill an in-process server on a virtual clock at a chosen
// call into the fleet: the state database is closed there, so nothing the
// server had not committed survives (what kill -9 leaves of a process), and
// a new server opens the same data directory and finishes the run. The
// in-process kill is chosen over a real SIGKILL because it can land on an
// exact, seeded moment — any call of any batch — and replay it: a signal
// lands wherever the process happens to be.

const (
	crashSet  = "crash"
	crashStep = 5 * time.Minute // the script's clock step
)

var (
	errKilled = errors.New("server killed")
	errEngine = errors.New("engine error (injected)")
)

// crashAction is something the script does at a step, after the clock
// reached it: to the server through its API, to the fleet's control plane
// (the probe's engine errors) or to the server itself (a restart).
type crashAction func(t *testing.T, r *crashRun)

// crashScript is one run: a set of n instances (in zones when given),
// faults injected before the rollout starts (step 0) or at later steps,
// then the clock moved crashStep at a time until the rollout ends.
type crashScript struct {
	name    string
	n       int
	zones   []string
	actions map[int][]crashAction
	// twin names the script this one must end as, uninterrupted: the same
	// faults without its scripted restarts.
	twin string
}

// crashRun is one play of a script: its data directory, the server that
// serves it now (a new one after each restart) and the probe.
type crashRun struct {
	dir   string
	s     *Server
	probe *crashProbe
}

// crashOutcome is what must not differ between a run and its killed twin.
type crashOutcome struct {
	Status    string
	Error     string
	Progress  string
	Instances []string
	Data      []uint64
}

// crashProbe counts the calls into the fleet, the batch each fell in (the
// number of reimage decisions journaled so far) and, when killAt is set,
// kills the server at that call. It also stands for the fleet's control
// plane: engine errors are answered here.
type crashProbe struct {
	calls   int
	batchOf []int // call index -> batch
	killAt  int   // 1-based call to die at; 0: never
	armed   bool  // calls count only while the clock moves
	killed  bool
	engine  engineErrors
	// engineErrs counts the calls the engine errors failed: a script of
	// them that fails none tests nothing.
	engineErrs int
}

// engineErrors are the engine-error fault of `osupgrade chaos` (errors of
// the Docker engine's API, which the harness's interceptor answers): while
// on, every reimage of the listed instances, or every observe, fails.
// They are the environment's, not the server's: they outlast its
// restarts, and only the script's steps switch them, so that a killed run
// meets exactly the errors its uninterrupted twin met.
type engineErrors struct {
	reimage map[int]bool
	observe bool
}

func (p *crashProbe) attach(s *Server) {
	s.fleet.beforeCall = func(method string, id int) error {
		if p.killed {
			return errKilled
		}
		if p.armed {
			p.calls++
			if p.killAt == 0 {
				p.batchOf = append(p.batchOf, decisions(s))
			}
			if p.calls == p.killAt {
				p.killed = true
				s.store.Close() // what was committed is all that is left
				return errKilled
			}
		}
		if method == "reimage" && p.engine.reimage[id] || method == "observe" && p.engine.observe {
			p.engineErrs++
			return fmt.Errorf("%s of instance %d: %w", method, id, errEngine)
		}
		return nil
	}
}

// decisions is the number of journaled reimage decisions of the crash set.
func decisions(s *Server) int {
	es, err := s.store.Journal(context.Background(), crashSet, 0, 0)
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range es {
		if len(e.Reimages) > 0 {
			n++
		}
	}
	return n
}

func openCrashServer(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Open(context.Background(), Options{DataDir: dir, Clock: "virtual", Token: testToken, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(t *testing.T, s *Server, method, path string, body any, want ...int) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	rec := do(s.Handler(), method, path, b)
	if !slices.Contains(want, rec.Code) {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

func setPath(suffix string) string {
	return "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/" + crashSet + suffix
}

// injectAPI turns a fault on (or off) through POST /osupgrade/faults.
func injectAPI(kind string, on bool, ids []int, extra map[string]any) crashAction {
	return func(t *testing.T, r *crashRun) {
		body := map[string]any{"scaleSet": crashSet, "instances": ids, "fault": kind, "on": on}
		for k, v := range extra {
			body[k] = v
		}
		call(t, r.s, "POST", "/osupgrade/faults", body, http.StatusOK)
	}
}

func badImage(kind fault.BadKind) crashAction {
	return func(t *testing.T, r *crashRun) {
		call(t, r.s, "POST", "/osupgrade/faults", map[string]any{"fault": "bad-image", "version": killTarget, "kind": string(kind)}, http.StatusOK)
	}
}

// zoneDown is chaos's zone-down: every instance of the zone goes down (or
// comes back), through the API's down switch on the instances the fleet
// places in it.
func zoneDown(zone string, on bool) crashAction {
	return func(t *testing.T, r *crashRun) {
		obs, err := r.s.fleet.inner.Observe(context.Background(), crashSet)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int
		for _, in := range obs {
			if in.Zone == zone {
				ids = append(ids, in.ID)
			}
		}
		if len(ids) == 0 {
			t.Fatalf("no instance in zone %q", zone)
		}
		injectAPI("down", on, ids, nil)(t, r)
	}
}

// engineReimage switches engine errors on the reimages of ids.
func engineReimage(on bool, ids ...int) crashAction {
	return func(t *testing.T, r *crashRun) {
		if r.probe.engine.reimage == nil {
			r.probe.engine.reimage = map[int]bool{}
		}
		for _, id := range ids {
			r.probe.engine.reimage[id] = on
		}
	}
}

// engineObserve switches engine errors on every observe of the fleet.
func engineObserve(on bool) crashAction {
	return func(t *testing.T, r *crashRun) { r.probe.engine.observe = on }
}

// orchestratorRestart is chaos's orchestrator-restart without nth: the
// server dies between two steps and a new one starts on the same data. The
// run's drawn kill, if still to come, stays armed: a killed run of such a
// script dies twice.
func orchestratorRestart(t *testing.T, r *crashRun) {
	r.s.store.Close()
	r.s = openCrashServer(t, r.dir)
	r.probe.attach(r.s)
}

// run plays the script on a fresh data directory, killed at call killAt
// (0: never), and returns the outcome.
func (sc crashScript) run(t *testing.T, killAt int) (crashOutcome, *crashProbe) {
	t.Helper()
	r := &crashRun{dir: t.TempDir(), probe: &crashProbe{killAt: killAt}}
	r.s = openCrashServer(t, r.dir)
	r.probe.attach(r.s)
	body := scaleSetBody(int64(sc.n))
	body.Tags[tagBootTime] = to.Ptr("60s")
	for _, z := range sc.zones {
		body.Zones = append(body.Zones, to.Ptr(z))
	}
	if len(sc.zones) > 0 {
		body.Properties.PlatformFaultDomainCount = to.Ptr[int32](1)
	}
	call(t, r.s, "PUT", setPath(""), body, http.StatusOK, http.StatusCreated)
	call(t, r.s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, http.StatusCreated)
	for _, a := range sc.actions[0] {
		a(t, r)
	}
	// The request that starts the rollout steps it at once: batch 1's
	// reimages happen in it.
	r.probe.armed = true
	rec := do(r.s.Handler(), "POST", setPath("/osRollingUpgrade"), nil)
	r.probe.armed = false
	start := r.s.Now()
	if r.probe.killed {
		// The start was committed before the step that died with the
		// server; the restarted server carries on with the clock's next move.
		r.restart(t)
	} else if rec.Code != http.StatusAccepted {
		t.Fatalf("start the OS upgrade: %d %s", rec.Code, rec.Body.String())
	}
	for step := 1; ; step++ {
		if step > 200 {
			t.Fatalf("%s: the rollout did not end in %d steps", sc.name, step)
		}
		r.probe.armed = true
		_, err := r.s.AdvanceClock(context.Background(), start.Add(time.Duration(step)*crashStep))
		r.probe.armed = false
		if r.probe.killed {
			// Restart on the same data directory, and do this step again:
			// the kill interrupted it.
			r.restart(t)
			if _, err = r.s.AdvanceClock(context.Background(), start.Add(time.Duration(step)*crashStep)); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		for _, a := range sc.actions[step] {
			a(t, r)
		}
		if out, done := crashResult(t, r.s); done {
			return out, r.probe
		}
	}
}

// restart starts a new server on the run's data after the drawn kill.
func (r *crashRun) restart(t *testing.T) {
	t.Helper()
	r.s = openCrashServer(t, r.dir)
	r.probe.killed, r.probe.killAt = false, -1
	r.probe.attach(r.s)
}

func crashResult(t *testing.T, s *Server) (crashOutcome, bool) {
	t.Helper()
	var latest rollingUpgradeStatus
	if err := json.Unmarshal(call(t, s, "GET", setPath("/rollingUpgrades/latest"), nil, http.StatusOK), &latest); err != nil {
		t.Fatal(err)
	}
	p := latest.Properties
	if p.RunningStatus.Code == "RollingForward" {
		return crashOutcome{}, false
	}
	out := crashOutcome{Status: p.RunningStatus.Code, Progress: fmt.Sprintf("%+v", p.Progress)}
	if p.Error != nil {
		out.Error = p.Error.Code
	}
	obs, err := s.fleet.inner.Observe(context.Background(), crashSet)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range obs {
		out.Instances = append(out.Instances, fmt.Sprintf("%d %s running=%v %v %v", in.ID, in.Version, in.Running, in.Provisioning, in.Health))
	}
	if out.Data, err = s.fleet.sim.Data(crashSet); err != nil {
		t.Fatal(err)
	}
	return out, true
}

func (o crashOutcome) diff(other crashOutcome) string {
	a, _ := json.MarshalIndent(o, "", " ")
	b, _ := json.MarshalIndent(other, "", " ")
	if string(a) == string(b) {
		return ""
	}
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var d []string
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			d = append(d, fmt.Sprintf("uninterrupted %s | killed %s", x, y))
		}
	}
	return strings.Join(d, "\n")
}

// killPoints draws, for every batch the uninterrupted run went through, one
// call of that batch at random (seeded).
func killPoints(rng *rand.Rand, batchOf []int) map[int]int {
	byBatch := map[int][]int{}
	for i, b := range batchOf {
		byBatch[b] = append(byBatch[b], i+1)
	}
	out := map[int]int{}
	for b, calls := range byBatch {
		out[b] = calls[rng.IntN(len(calls))]
	}
	return out
}

func on(step int, as ...crashAction) map[int][]crashAction { return map[int][]crashAction{step: as} }

func merge(ms ...map[int][]crashAction) map[int][]crashAction {
	out := map[int][]crashAction{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

// crashScripts are the fault kinds of `osupgrade chaos`'s draw
// (harness/chaos: generated, zone-down for zoned sets, the bad images),
// each on a set of 15 (batches of 3), injected through serve's
// /osupgrade/faults unless said otherwise:
//   - crash, kill and stop are one switch in the simulator (down: the same
//     state, saved alike), which is the only name serve's API has for them;
//   - maintenance is unhealthy, or with unavailable: true down, for a while;
//   - zone-down is down on the instances of one zone of a set in 3 zones,
//     alone and over an instance already down (the switch counts);
//   - engine-error is answered by the probe, the control plane between the
//     server and the fleet, as the harness's interceptor does: every reimage
//     of chosen instances, or every observe, fails for a few steps. Its
//     variants that cannot be replayed across a kill are left out: nth (one
//     error, on one call: a kill after the failed call and before the
//     failure was journaled loses it, and the restarted server's new call
//     succeeds, as it would against a real engine) and kind: slow (a call
//     that takes scenario time: the in-process server's virtual clock moves
//     only between calls);
//   - orchestrator-restart is the drawn kill itself (its nth form: a death
//     inside a reimage call) and, as a script, a death between two steps
//     with a fault under way: its killed runs die twice.
func crashScripts() []crashScript {
	const n = 15
	zones := []string{"1", "2", "3"}
	flap := merge(on(0, injectAPI("flap", true, []int{5, 9}, map[string]any{"period": "90s"})), on(6, injectAPI("flap", false, []int{5, 9}, nil)))
	return []crashScript{
		{name: "unhealthy", n: n, actions: merge(on(0, injectAPI("app-unhealthy", true, []int{2, 7, 11}, nil)), on(4, injectAPI("app-unhealthy", false, []int{2, 7, 11}, nil)))},
		{name: "crash/kill/stop", n: n, actions: merge(on(0, injectAPI("down", true, []int{3, 8}, nil)), on(3, injectAPI("down", false, []int{3, 8}, nil)))},
		{name: "maintenance", n: n, actions: merge(on(1, injectAPI("app-unhealthy", true, []int{9, 13}, nil)), on(3, injectAPI("app-unhealthy", false, []int{9, 13}, nil)))},
		{name: "maintenance unavailable", n: n, actions: merge(on(1, injectAPI("down", true, []int{10, 12, 14}, nil)), on(2, injectAPI("down", false, []int{10, 12, 14}, nil)))},
		{name: "restart", n: n, actions: on(1, injectAPI("restart", true, []int{1, 6, 9}, nil))},
		{name: "pause", n: n, actions: merge(on(0, injectAPI("pause", true, []int{4}, nil)), on(2, injectAPI("pause", false, []int{4}, nil)))},
		{name: "flap", n: n, actions: flap},
		{name: "slow-boot", n: n, actions: on(0, injectAPI("slow-boot", true, []int{0, 1, 2, 3, 4, 5}, map[string]any{"delay": "300s", "version": killTarget}))},
		{name: "lie", n: n, actions: on(0, injectAPI("lie", true, []int{3, 4}, nil), injectAPI("app-unhealthy", true, []int{3}, nil))},
		{name: "partition", n: n, actions: merge(on(0, injectAPI("partition", true, []int{2, 13}, nil)), on(3, injectAPI("partition", false, []int{2, 13}, nil)))},
		{name: "loss", n: n, actions: merge(on(0, injectAPI("loss", true, []int{4, 9, 14}, map[string]any{"percent": 50})), on(8, injectAPI("loss", false, []int{4, 9, 14}, nil)))},
		{name: "latency", n: n, actions: on(0, injectAPI("latency", true, []int{1, 11}, map[string]any{"delay": "8s"}))},
		{name: "slow-link", n: n, actions: on(0, injectAPI("slow-link", true, []int{6, 7}, map[string]any{"rate": 1024}))},
		{name: "zone-down", n: n, zones: zones, actions: merge(on(1, zoneDown("2", true)), on(4, zoneDown("2", false)))},
		{name: "zone-down over crash", n: n, zones: zones, actions: merge(on(0, injectAPI("down", true, []int{4}, nil)), on(1, zoneDown("2", true)), on(3, zoneDown("2", false)), on(6, injectAPI("down", false, []int{4}, nil)))},
		{name: "engine-error reimage", n: n, actions: merge(on(0, engineReimage(true, 1, 4)), on(3, engineReimage(false, 1, 4)))},
		{name: "engine-error observe", n: n, actions: merge(on(1, engineObserve(true)), on(2, engineObserve(false)))},
		{name: "orchestrator-restart", n: n, actions: merge(flap, on(3, orchestratorRestart)), twin: "flap"},
		{name: "bad never-healthy", n: n, actions: on(0, badImage(fault.NeverHealthy))},
		{name: "bad crash", n: n, actions: on(0, badImage(fault.CrashOnBoot))},
		{name: "bad extension-failure", n: n, actions: on(0, badImage(fault.FailsExtensions))},
	}
}

// TestCrashAtEveryBatchEndsAsUninterrupted runs each fault kind's script
// uninterrupted, then once killed at a random (seeded) call of each batch
// and restarted on the same data directory: the rollout's status, error
// code and progress, and every instance's version, health and data disk,
// are those of the uninterrupted run.
func TestCrashAtEveryBatchEndsAsUninterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("about a hundred rollouts")
	}
	scripts := crashScripts()
	kills, same := 0, 0
	outcomes := map[string]int{} // uninterrupted outcome -> killed runs that ended as it
	wants := map[string]crashOutcome{}
	for i, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			want, probe := sc.run(t, 0)
			wants[sc.name] = want
			if tw, ok := wants[sc.twin]; sc.twin != "" && !ok {
				t.Fatalf("twin %q: no such script before this one", sc.twin)
			} else if d := tw.diff(want); ok && d != "" {
				t.Errorf("the scripted restarts change the outcome of %s:\n%s", sc.twin, d)
			}
			if strings.HasPrefix(sc.name, "engine-error") && probe.engineErrs == 0 {
				t.Fatal("no call met an engine error")
			}
			points := killPoints(rand.New(rand.NewPCG(uint64(i), 17)), probe.batchOf)
			for _, b := range slices.Sorted(maps.Keys(points)) {
				got, _ := sc.run(t, points[b])
				kills++
				if d := want.diff(got); d != "" {
					t.Errorf("killed at call %d of %d (batch %d): the outcome differs:\n%s", points[b], len(probe.batchOf), b, d)
					continue
				}
				same++
				outcomes[strings.TrimSpace(got.Status+" "+got.Error)]++
			}
			t.Logf("%s: %d calls into the fleet in %d batches (%d engine errors); killed at %v; outcome %s %s", sc.name, len(probe.batchOf), len(points), probe.engineErrs, points, want.Status, want.Error)
		})
	}
	t.Logf("%d scripts, %d kill points, %d outcomes identical to the uninterrupted run, %d differ; identical by outcome: %v", len(scripts), kills, same, kills-same, outcomes)
}

// TestRestartKeepsBadImage is the reported restart bug: a bad image
// (never-healthy) injected through the API, an OS upgrade of 200 instances,
// serve killed in the middle of batch 1 and started again on the same data:
// the rollout must end Faulted with 40 instances on the bad image, like the
// uninterrupted run — not Completed with all 200 on it.
func TestRestartKeepsBadImage(t *testing.T) {
	sc := crashScript{name: "bad never-healthy 200", n: 200, actions: on(0, badImage(fault.NeverHealthy))}
	want, probe := sc.run(t, 0)
	onBad := func(o crashOutcome) int {
		n := 0
		for _, in := range o.Instances {
			if strings.Contains(in, " "+killTarget+" ") {
				n++
			}
		}
		return n
	}
	if want.Status != "Faulted" || onBad(want) != 40 {
		t.Fatalf("uninterrupted: %s with %d on the bad image, want Faulted with 40", want.Status, onBad(want))
	}
	first, last := slices.Index(probe.batchOf, 1), -1
	for i, b := range probe.batchOf {
		if b == 1 {
			last = i
		}
	}
	if first < 0 {
		t.Fatal("no call in batch 1")
	}
	// Twenty reimages into batch 1 (none committed yet: the new server
	// makes them again), and the batch's last call, its 40 instances
	// reimaged and booting the bad image.
	for _, killAt := range []int{first + 1 + 20, last + 1} {
		got, _ := sc.run(t, killAt)
		t.Logf("killed at call %d of %d (batch %d): %s %s %s, %d on the bad image", killAt, len(probe.batchOf), probe.batchOf[killAt-1], got.Status, got.Error, got.Progress, onBad(got))
		if got.Status != "Faulted" || onBad(got) != 40 {
			t.Errorf("killed at call %d (batch %d): %s with %d on the bad image, want Faulted with 40", killAt, probe.batchOf[killAt-1], got.Status, onBad(got))
		}
		if d := want.diff(got); d != "" {
			t.Errorf("killed at call %d in batch 1: the outcome differs from the uninterrupted run:\n%s", killAt, d)
		}
	}
}
