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

var errKilled = errors.New("server killed")

// crashAction is something the script does to a server at a step, after
// the clock reached it.
type crashAction func(t *testing.T, s *Server)

// crashScript is one run: a set of n instances, faults injected before the
// rollout starts (step 0) or at later steps, then the clock moved crashStep
// at a time until the rollout ends.
type crashScript struct {
	name    string
	n       int
	actions map[int][]crashAction
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
// kills the server at that call.
type crashProbe struct {
	calls   int
	batchOf []int // call index -> batch
	killAt  int   // 1-based call to die at; 0: never
	armed   bool  // calls count only while the clock moves
	killed  bool
}

func (p *crashProbe) attach(s *Server) {
	s.fleet.beforeCall = func(method string) error {
		if p.killed {
			return errKilled
		}
		if !p.armed {
			return nil
		}
		p.calls++
		if p.killAt == 0 {
			p.batchOf = append(p.batchOf, decisions(s))
		}
		if p.calls == p.killAt {
			p.killed = true
			s.store.Close() // what was committed is all that is left
			return errKilled
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
	return func(t *testing.T, s *Server) {
		body := map[string]any{"scaleSet": crashSet, "instances": ids, "fault": kind, "on": on}
		for k, v := range extra {
			body[k] = v
		}
		call(t, s, "POST", "/osupgrade/faults", body, http.StatusOK)
	}
}

func badImage(kind fault.BadKind) crashAction {
	return func(t *testing.T, s *Server) {
		call(t, s, "POST", "/osupgrade/faults", map[string]any{"fault": "bad-image", "version": killTarget, "kind": string(kind)}, http.StatusOK)
	}
}

// run plays the script on a fresh data directory, killed at call killAt
// (0: never), and returns the outcome.
func (sc crashScript) run(t *testing.T, killAt int) (crashOutcome, *crashProbe) {
	t.Helper()
	dir := t.TempDir()
	s := openCrashServer(t, dir)
	probe := &crashProbe{killAt: killAt}
	probe.attach(s)
	body := scaleSetBody(int64(sc.n))
	body.Tags[tagBootTime] = to.Ptr("60s")
	call(t, s, "PUT", setPath(""), body, http.StatusOK, http.StatusCreated)
	call(t, s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, http.StatusCreated)
	for _, a := range sc.actions[0] {
		a(t, s)
	}
	// The request that starts the rollout steps it at once: batch 1's
	// reimages happen in it.
	probe.armed = true
	rec := do(s.Handler(), "POST", setPath("/osRollingUpgrade"), nil)
	probe.armed = false
	start := s.Now()
	if probe.killed {
		// The start was committed before the step that died with the
		// server; the restarted server carries on with the clock's next move.
		s = sc.restart(t, dir, probe)
	} else if rec.Code != http.StatusAccepted {
		t.Fatalf("start the OS upgrade: %d %s", rec.Code, rec.Body.String())
	}
	for step := 1; ; step++ {
		if step > 200 {
			t.Fatalf("%s: the rollout did not end in %d steps", sc.name, step)
		}
		probe.armed = true
		_, err := s.AdvanceClock(context.Background(), start.Add(time.Duration(step)*crashStep))
		probe.armed = false
		if probe.killed {
			// Restart on the same data directory, and do this step again:
			// the kill interrupted it.
			s = sc.restart(t, dir, probe)
			if _, err = s.AdvanceClock(context.Background(), start.Add(time.Duration(step)*crashStep)); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		for _, a := range sc.actions[step] {
			a(t, s)
		}
		if out, done := crashResult(t, s); done {
			return out, probe
		}
	}
}

func (sc crashScript) restart(t *testing.T, dir string, probe *crashProbe) *Server {
	t.Helper()
	s := openCrashServer(t, dir)
	probe.killed, probe.killAt = false, -1
	probe.attach(s)
	return s
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
// (harness/chaos), each on a set of 15 (batches of 3), injected through
// serve's /osupgrade/faults. crash, kill and stop are one switch in the simulator (down), maintenance
// is unhealthy or down for a while, zone-down is down on a zone's
// instances; engine-error (errors of the Docker engine's API, held by the
// harness's interceptor) and orchestrator-restart (the kill itself) are not
// fleet state.
func crashScripts() []crashScript {
	const n = 15
	return []crashScript{
		{"unhealthy", n, merge(on(0, injectAPI("app-unhealthy", true, []int{2, 7, 11}, nil)), on(4, injectAPI("app-unhealthy", false, []int{2, 7, 11}, nil)))},
		{"crash/kill/stop", n, merge(on(0, injectAPI("down", true, []int{3, 8}, nil)), on(3, injectAPI("down", false, []int{3, 8}, nil)))},
		{"maintenance", n, merge(on(1, injectAPI("down", true, []int{10, 12, 14}, nil)), on(2, injectAPI("down", false, []int{10, 12, 14}, nil)))},
		{"restart", n, on(1, injectAPI("restart", true, []int{1, 6, 9}, nil))},
		{"pause", n, merge(on(0, injectAPI("pause", true, []int{4}, nil)), on(2, injectAPI("pause", false, []int{4}, nil)))},
		{"flap", n, merge(on(0, injectAPI("flap", true, []int{5, 9}, map[string]any{"period": "90s"})), on(6, injectAPI("flap", false, []int{5, 9}, nil)))},
		{"slow-boot", n, on(0, injectAPI("slow-boot", true, []int{0, 1, 2, 3, 4, 5}, map[string]any{"delay": "300s", "version": killTarget}))},
		{"lie", n, on(0, injectAPI("lie", true, []int{3, 4}, nil), injectAPI("app-unhealthy", true, []int{3}, nil))},
		{"partition", n, merge(on(0, injectAPI("partition", true, []int{2, 13}, nil)), on(3, injectAPI("partition", false, []int{2, 13}, nil)))},
		{"loss", n, merge(on(0, injectAPI("loss", true, []int{4, 9, 14}, map[string]any{"percent": 50})), on(8, injectAPI("loss", false, []int{4, 9, 14}, nil)))},
		{"latency", n, on(0, injectAPI("latency", true, []int{1, 11}, map[string]any{"delay": "8s"}))},
		{"slow-link", n, on(0, injectAPI("slow-link", true, []int{6, 7}, map[string]any{"rate": 1024}))},
		{"bad never-healthy", n, on(0, badImage(fault.NeverHealthy))},
		{"bad crash", n, on(0, badImage(fault.CrashOnBoot))},
		{"bad extension-failure", n, on(0, badImage(fault.FailsExtensions))},
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
	kills := 0
	outcomes := map[string]int{}
	for i, sc := range crashScripts() {
		t.Run(sc.name, func(t *testing.T) {
			want, probe := sc.run(t, 0)
			points := killPoints(rand.New(rand.NewPCG(uint64(i), 17)), probe.batchOf)
			for _, b := range slices.Sorted(maps.Keys(points)) {
				got, _ := sc.run(t, points[b])
				kills++
				key := fmt.Sprintf("%s %s", got.Status, got.Error)
				if d := want.diff(got); d != "" {
					outcomes["differs"]++
					t.Errorf("killed at call %d of %d (batch %d): the outcome differs:\n%s", points[b], len(probe.batchOf), b, d)
					continue
				}
				outcomes[key]++
			}
			t.Logf("%s: %d calls into the fleet in %d batches; killed at %v; outcome %s %s", sc.name, len(probe.batchOf), len(points), points, want.Status, want.Error)
		})
	}
	t.Logf("kill points: %d; outcomes identical to the uninterrupted run, by status: %v", kills, outcomes)
}

// TestRestartKeepsBadImage is the reported restart bug: a bad image
// (never-healthy) injected through the API, an OS upgrade of 200 instances,
// serve killed in the middle of batch 1 and started again on the same data:
// the rollout must end Faulted with 40 instances on the bad image, like the
// uninterrupted run — not Completed with all 200 on it.
func TestRestartKeepsBadImage(t *testing.T) {
	sc := crashScript{"bad never-healthy 200", 200, on(0, badImage(fault.NeverHealthy))}
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
