package main

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// How `run` runs independent scenarios at once. A scenario on Docker holds
// its instances as containers, and the orchestrator reimages up to
// docker.ReimageConcurrency of them at a time; the engine's container
// starts are CPU-bound, so every scenario running next to another stretches
// each reimage's time to healthy, which the scenario's waits count (the
// 5-minute health wait is 15 s wall at time scale 20). The budget bounds
// what runs at once by the scenarios running and the containers they hold;
// README.md ("Scenarios at once") gives the measurements behind its figures.
// A simulated scenario weighs nothing: the largest shipped one (10^6
// instances) takes 1.6 s of one CPU, against a 15 s wall wait.

// scenariosPerCPU is the scenarios run at once per CPU: a Docker scenario
// spends most of its wall time waiting on its scaled clock, not on a CPU,
// but past 2 per CPU here the runs only stretched each other's reimages
// (the same throughput, half the margin left in the 5-minute wait).
const scenariosPerCPU = 2

// instancesPerCPU is the Docker instances held at once per CPU.
const instancesPerCPU = 30

// runJob is one scenario's run as the scheduler sees it.
type runJob struct {
	// Weight is the budget the run holds: its instances on Docker, 0 on
	// the simulator.
	Weight int
	// Exclusive: the run starts only when nothing else runs, and nothing
	// starts beside it (the scenario's `exclusive: true`).
	Exclusive bool
}

// runBudget is what may run at once.
type runBudget struct {
	Scenarios int // scenarios at once; 1 runs them one after another
	Weight    int // the running scenarios' weights together
}

// defaultBudget is the budget of a machine with cpus CPUs.
func defaultBudget(cpus int) runBudget {
	cpus = max(1, cpus)
	return runBudget{Scenarios: scenariosPerCPU * cpus, Weight: instancesPerCPU * cpus}
}

// budgetFor is the budget of `run --parallel n` on this machine: n
// scenarios at once (1: one after another), 0 the machine's default.
func budgetFor(n int) runBudget {
	b := defaultBudget(runtime.NumCPU())
	if n > 0 {
		b.Scenarios = n
	}
	return b
}

// jobFor weighs a scenario run on fleet: a wall-clock fleet holds its
// instances as real processes, a virtual-clock one weighs nothing.
func jobFor(sc *scenario.File, fleet backend.Factory) runJob {
	n := 0
	if fleet.Clock == backend.WallClock {
		for _, s := range sc.ScaleSets {
			n += s.Instances
		}
	}
	return runJob{Weight: n, Exclusive: sc.Exclusive}
}

// admit returns the pending jobs (indexes into jobs, in order) that start
// now while the running ones run. Pending jobs are taken in order, each
// that fits: nothing runs, or nothing exclusive runs, the job is not
// exclusive, one more scenario fits b.Scenarios and its weight fits
// b.Weight. A job heavier than the budget, or exclusive, thus starts when
// the machine is empty, and runs alone; one that does not fit yet lets
// later, lighter ones start before it.
func admit(b runBudget, jobs []runJob, running, pending []int) []int {
	n, weight := len(running), 0
	for _, i := range running {
		if jobs[i].Exclusive {
			return nil
		}
		weight += jobs[i].Weight
	}
	var start []int
	for _, i := range pending {
		j := jobs[i]
		if n == 0 {
			start = append(start, i)
			if j.Exclusive || j.Weight > b.Weight {
				break
			}
			n, weight = 1, j.Weight
			continue
		}
		if j.Exclusive || n+1 > max(1, b.Scenarios) || weight+j.Weight > b.Weight {
			continue
		}
		start = append(start, i)
		n, weight = n+1, weight+j.Weight
	}
	return start
}

// runScheduled runs do(ctx, i) for every job within b, and calls done(i)
// for each in index order as soon as it and every job before it ended, so
// output keeps the scenarios' order. When done returns false, no further
// job starts, the running ones' ctx is cancelled, and runScheduled returns
// once they ended, without calling done again.
func runScheduled(ctx context.Context, b runBudget, jobs []runJob, do func(ctx context.Context, i int), done func(i int) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	pending := make([]int, len(jobs))
	for i := range pending {
		pending[i] = i
	}
	var running []int
	ended := make([]bool, len(jobs))
	finished := make(chan int)
	next := 0
	for next < len(jobs) {
		start := admit(b, jobs, running, pending)
		for _, i := range start {
			running = append(running, i)
			pending = remove(pending, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				do(ctx, i)
				finished <- i
			}()
		}
		i := <-finished
		running = remove(running, i)
		ended[i] = true
		for next < len(jobs) && ended[next] {
			if !done(next) {
				cancel()
				for len(running) > 0 { // drain: every started job sends once
					running = remove(running, <-finished)
				}
				return
			}
			next++
		}
	}
}

// remove returns s without v.
func remove(s []int, v int) []int {
	return slices.DeleteFunc(s, func(x int) bool { return x == v })
}
