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
	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// TestObserveCPU measures what observing an idle fleet of
// OSUPGRADE_OBSERVE_CPU instances costs the machine, for each way of
// learning the agents' state named in OSUPGRADE_OBSERVE_MODES (default
// "poll,push"): poll asks every agent over HTTP at each Observe (the way
// before push health), push reads the collector the agents report to.
//
// For each way it creates the set (all healthy, nothing rolling out), then
// samples the CPU time (/proc utime+stime) of this process (the observer,
// and the collector), of every agent (the containers' PID 1) and of the
// engine (dockerd, through /var/run/docker.pid: Observe lists the
// containers) over cpuWindows windows: first with no observer, then with
// Observe called every 5 s of scenario time (83 ms wall at time scale 60),
// the harness's rate while a rollout runs. It reports the median and the
// range over the windows (min–max of 7 windows: a 98% interval for the
// median), in % of one core. It asserts nothing but that the fleet stays
// healthy: the machine is shared.
//
//	OSUPGRADE_OBSERVE_CPU=200 go test -run TestObserveCPU -v -timeout 30m ./fakes/docker/
func TestObserveCPU(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OSUPGRADE_OBSERVE_CPU"))
	if n <= 0 {
		t.Skip("skipping: set OSUPGRADE_OBSERVE_CPU=N to measure observing N idle instances")
	}
	modes := strings.Split(cmpOr(os.Getenv("OSUPGRADE_OBSERVE_MODES"), "poll,push"), ",")
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { measureObserveCPU(t, n, mode) })
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const (
	cpuWindows = 7
	cpuWindow  = 4 * time.Second
	cpuScale   = 60
)

func measureObserveCPU(t *testing.T, n int, mode string) {
	ctx := context.Background()
	clk := clock.NewScaled(clock.Epoch, cpuScale)
	opts := docker.Options{Clock: clk, Seed: 1, Concurrency: 4}
	switch mode {
	case "poll":
		opts.PollAgents = true
	case "push":
	default:
		t.Fatalf("OSUPGRADE_OBSERVE_MODES: unknown way %q (want poll or push)", mode)
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
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	pids := agentPIDs(t, cli, f.RunID())
	if len(pids) != n {
		t.Fatalf("%d agent processes, want %d", len(pids), n)
	}
	engine := enginePID()
	time.Sleep(2 * time.Second) // the last boots' status changes settle

	sample := func(observe bool) (self, agents, eng []float64, obsTook []time.Duration) {
		stop := make(chan struct{})
		done := make(chan []time.Duration)
		if observe {
			go func() {
				var took []time.Duration
				tick := time.NewTicker(5 * time.Second / cpuScale)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						done <- took
						return
					case <-tick.C:
						s := time.Now()
						if _, err := f.Observe(ctx, m.Name); err != nil {
							t.Error(err)
						}
						took = append(took, time.Since(s))
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
			self = append(self, pct(s1-s0, wall))
			agents = append(agents, pct(a1-a0, wall))
			eng = append(eng, pct(e1-e0, wall))
		}
		if observe {
			close(stop)
			obsTook = <-done
		}
		return
	}
	s0, a0, e0, _ := sample(false)
	s1, a1, e1, took := sample(true)
	tot := func(a, b, c []float64) []float64 {
		out := make([]float64, len(a))
		for i := range a {
			out[i] = a[i] + b[i] + c[i]
		}
		return out
	}
	slices.Sort(took)
	obs, err := f.Observe(ctx, m.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !healthyOn(fleettest.V1)(obs) {
		t.Errorf("the idle fleet did not stay healthy: %+v", obs)
	}
	t.Logf("way=%s N=%d time scale %d, %% of one core, median [min–max of %d windows of %s]:", mode, n, cpuScale, cpuWindows, cpuWindow)
	t.Logf("  no observer:        this process %s, agents %s, engine %s, total %s", stat(s0), stat(a0), stat(e0), stat(tot(s0, a0, e0)))
	t.Logf("  Observe every 83ms: this process %s, agents %s, engine %s, total %s; %d observations, p50 %s",
		stat(s1), stat(a1), stat(e1), stat(tot(s1, a1, e1)), len(took), took[len(took)/2].Round(time.Microsecond))
	fmt.Fprintf(os.Stderr, "BenchmarkObserveIdle/way=%s/N=%d\t1\t%.2f %%core-total\t%.2f %%core-observer\t%.2f %%core-agents\t%.2f %%core-engine\t%.2f %%core-idle-total\n",
		mode, n, median(tot(s1, a1, e1)), median(s1), median(a1), median(e1), median(tot(s0, a0, e0)))
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
