package docker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// TestObserveCPU measures what observing an idle fleet of
// OSUPGRADE_OBSERVE_CPU instances costs the machine, polling the agents
// over HTTP at each Observe (the way before push health) and with the
// agents pushing to the collector, on one set of containers.
//
// The set is created with agents that do not report (Options.PollAgents),
// healthy, nothing rolling out. The CPU time (/proc utime+stime) of this
// process (the observer, and the collector), of every agent (the
// containers' PID 1) and of the engine (dockerd, /var/run/docker.pid:
// Observe lists the containers) is sampled over cpuWindows windows in each
// phase: (0) no observer, agents not reporting: the agents' own work
// (their Application Health probes); (poll) Observe every 5 s of scenario
// time (83 ms wall at time scale 60, the harness's rate while a rollout
// runs), polling; then every agent is restarted with a Report in its
// config and (push-idle) no observer, agents heartbeating; (push) Observe
// at the same rate, reading the collector. Observation's cost is a phase's
// total less phase 0's. It reports the median and the range over the
// windows (min–max of 7 windows: a 98% interval for the median), in % of
// one core, and the share of observations that saw an instance not
// healthy (none is: a false Unknown). It asserts nothing about the
// figures: the machine is shared.
//
//	OSUPGRADE_OBSERVE_CPU=200 go test -run TestObserveCPU -v -timeout 60m ./fakes/docker/
func TestObserveCPU(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OSUPGRADE_OBSERVE_CPU"))
	if n <= 0 {
		t.Skip("skipping: set OSUPGRADE_OBSERVE_CPU=N to measure observing N idle instances")
	}
	ctx := context.Background()
	clk := clock.NewScaled(clock.Epoch, cpuScale)
	opts, err := docker.ForTest(ctx, docker.Options{Clock: clk, Seed: 1, Concurrency: 4, PollAgents: true})
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
	defer func() {
		if err := f.Clean(context.Background()); err != nil {
			t.Errorf("clean: %v", err)
		}
		f.Close()
	}()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	m := fleettest.Model("cpu", n, plan.HealthExtension)
	m.AppHealth.GracePeriod = 0
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	settle(t, f, m.Name)
	engine := enginePID()
	p0 := measure(t, f, cli, m.Name, engine, false)
	logPhase(t, "0 agents alone", p0, p0)
	pPoll := measure(t, f, cli, m.Name, engine, true)
	logPhase(t, "poll", pPoll, p0)

	docker.SetPolling(f, false)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if err := f.Inject(ctx, m.Name, all, fault.Switch{Kind: fault.Restart, On: true}); err != nil {
		t.Fatal(err)
	}
	settle(t, f, m.Name)
	if k := docker.PolledAgents(f); k != 0 {
		t.Fatalf("%d agents still asked over HTTP after the restart", k)
	}
	pPushIdle := measure(t, f, cli, m.Name, engine, false)
	logPhase(t, "push, no observer", pPushIdle, p0)
	pPush := measure(t, f, cli, m.Name, engine, true)
	logPhase(t, "push", pPush, p0)

	t.Logf("N=%d, time scale %d, %% of one core, median [min–max of %d windows of %s]:", n, cpuScale, cpuWindows, cpuWindow)
	for _, p := range []struct {
		name string
		ph   phase
	}{{"0 agents alone", p0}, {"poll", pPoll}, {"push, no observer", pPushIdle}, {"push", pPush}} {
		t.Logf("  %-18s this process %s, agents %s, engine %s, total %s; observation: total less phase 0 %s; %s",
			p.name, stat(p.ph.self), stat(p.ph.agents), stat(p.ph.engine), stat(p.ph.total()), stat(diff(p.ph.total(), p0.total())), p.ph.observed())
	}
	for _, p := range []struct {
		name string
		ph   phase
	}{{"poll", pPoll}, {"push", pPush}} {
		fmt.Fprintf(os.Stderr, "BenchmarkObserveIdle/way=%s/N=%d\t1\t%.2f %%core-observation\t%.2f %%core-total\t%.2f %%core-observer\t%.2f %%core-agents\t%.2f %%core-engine\n",
			p.name, n, median(diff(p.ph.total(), p0.total())), median(p.ph.total()), median(p.ph.self), median(p.ph.agents), median(p.ph.engine))
	}
}

const (
	cpuWindows = 7
	cpuWindow  = 4 * time.Second
	cpuScale   = 60
)

// logPhase logs a phase as soon as it is measured.
func logPhase(t *testing.T, name string, p, p0 phase) {
	t.Logf("phase %-18s this process %s, agents %s, engine %s, total %s; observation: total less phase 0 %s; %s",
		name, stat(p.self), stat(p.agents), stat(p.engine), stat(p.total()), stat(diff(p.total(), p0.total())), p.observed())
}

// settle waits (wall time: the machine may be loaded) until at least 98%
// of the set is healthy.
func settle(t *testing.T, f *docker.Fleet, set string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		obs, err := f.Observe(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		if notHealthy(obs)*50 <= len(obs) {
			time.Sleep(2 * time.Second) // the last boots' changes settle
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d instances not healthy after 10 minutes", notHealthy(obs), len(obs))
		}
		time.Sleep(time.Second)
	}
}

func notHealthy(obs []plan.Instance) int {
	k := 0
	for i := range obs {
		if !plan.HealthyOn(&obs[i], fleettest.V1, plan.HealthExtension) {
			k++
		}
	}
	return k
}

// phase is one phase's samples, % of one core per window.
type phase struct {
	self, agents, engine []float64
	took                 []time.Duration
	unhealthy            []int // instances not healthy, per observation
}

func (p phase) total() []float64 {
	out := make([]float64, len(p.self))
	for i := range out {
		out[i] = p.self[i] + p.agents[i] + p.engine[i]
	}
	return out
}

func (p phase) observed() string {
	if len(p.took) == 0 {
		return "no observations"
	}
	took := slices.Clone(p.took)
	slices.Sort(took)
	bad, sum := 0, 0
	for _, u := range p.unhealthy {
		sum += u
		if u > 0 {
			bad++
		}
	}
	return fmt.Sprintf("%d observations, p50 %s, %d saw an instance not healthy (%d instance-observations)", len(took), took[len(took)/2].Round(time.Microsecond), bad, sum)
}

func diff(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - median(b)
	}
	return out
}

// measure samples one phase: cpuWindows windows, observing the set every
// 5 s of scenario time when observe.
func measure(t *testing.T, f *docker.Fleet, cli *client.Client, set string, engine int, observe bool) (p phase) {
	t.Helper()
	pids := agentPIDs(t, cli, f.RunID())
	stop := make(chan struct{})
	done := make(chan struct{})
	if observe {
		go func() {
			defer close(done)
			tick := time.NewTicker(5 * time.Second / cpuScale)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					s := time.Now()
					obs, err := f.Observe(context.Background(), set)
					if err != nil {
						t.Error(err)
						continue
					}
					p.took = append(p.took, time.Since(s))
					p.unhealthy = append(p.unhealthy, notHealthy(obs))
				}
			}
		}()
	}
	for range cpuWindows {
		s0, a0, e0 := cpuTicks(os.Getpid()), sumTicks(pids), cpuTicks(engine)
		w0 := time.Now()
		time.Sleep(cpuWindow)
		wall := time.Since(w0).Seconds()
		s1, a1, e1 := cpuTicks(os.Getpid()), sumTicks(pids), cpuTicks(engine)
		p.self = append(p.self, pct(s1-s0, wall))
		p.agents = append(p.agents, pct(a1-a0, wall))
		p.engine = append(p.engine, pct(e1-e0, wall))
	}
	close(stop)
	if observe {
		<-done
	}
	return p
}

// agentPIDs are the host PIDs of the run's running containers' PID 1.
func agentPIDs(t *testing.T, cli *client.Client, run string) []int {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: runFilter(run)})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, c := range list {
		ins, err := cli.ContainerInspect(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ins.State != nil && ins.State.Pid > 0 {
			pids = append(pids, ins.State.Pid)
		}
	}
	return pids
}

// enginePID is dockerd's PID, 0 when unknown.
func enginePID() int {
	b, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// cpuTicks is a process's utime+stime in clock ticks; 0 when unreadable.
func cpuTicks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	rest := s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func sumTicks(pids []int) int64 {
	var s int64
	for _, p := range pids {
		s += cpuTicks(p)
	}
	return s
}

// clockTicks is USER_HZ: 100 on Linux.
const clockTicks = 100

func pct(ticks int64, wall float64) float64 { return float64(ticks) / clockTicks / wall * 100 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func stat(v []float64) string {
	return fmt.Sprintf("%.1f [%.1f–%.1f]", median(v), slices.Min(v), slices.Max(v))
}
