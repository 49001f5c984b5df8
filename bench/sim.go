package bench

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// SimSample is one measured simulated rollout.
type SimSample struct {
	N    int           `json:"n"`
	Mix  Mix           `json:"mix"`
	Wall time.Duration `json:"wall"`
	// CPU is the process's user+system time during the run (every
	// goroutine, the GC's included): on a busy machine it estimates what the
	// wall time would be on an idle one better than the wall time does.
	CPU time.Duration `json:"cpu"`
	// Bytes and Allocs are heap allocations during the run (building the
	// world, the rollout, reading the result), as testing's B/op counts.
	Bytes  uint64 `json:"bytes"`
	Allocs uint64 `json:"allocs"`
	// Makespan is the rollout's duration on the virtual clock.
	Makespan time.Duration `json:"makespan"`
	Bound    Bound         `json:"bound"`
	Status   string        `json:"status"`
	Batches  int           `json:"batches"`
	Upgraded int           `json:"upgraded"`
	Failed   int           `json:"failed"`
}

// MakespanRatio is makespan ÷ lower bound.
func (s SimSample) MakespanRatio() float64 {
	if s.Bound.Total <= 0 {
		return 0
	}
	return s.Makespan.Seconds() / s.Bound.Total.Seconds()
}

// RunSim runs one whole simulated rollout of sc and measures it. wall is
// the clock the wall time is read from (time.Now outside tests).
func RunSim(ctx context.Context, sc *scenario.File, mix Mix, wall func() time.Time) (SimSample, error) {
	if len(sc.ScaleSets) != 1 {
		return SimSample{}, fmt.Errorf("bench: scenario %s has %d scale sets, want 1", sc.Name, len(sc.ScaleSets))
	}
	r, c, err := runMeasured(ctx, sc, wall)
	if err != nil {
		return SimSample{}, err
	}
	s := SimSample{N: sc.ScaleSets[0].Instances, Mix: mix, Wall: c.wall, CPU: c.cpu, Bytes: c.bytes, Allocs: c.allocs}
	if err := s.fill(r, sc); err != nil {
		return SimSample{}, err
	}
	return s, nil
}

// fill reads the rollout's outcome and bound from a result.
func (s *SimSample) fill(r *harness.Result, sc *scenario.File) error {
	set := r.ScaleSets[0]
	if len(set.History) == 0 {
		return fmt.Errorf("bench: %s has no upgrade history", sc.Name)
	}
	h := set.History[0].Properties
	if h.RunningStatus.EndTime == nil {
		return fmt.Errorf("bench: the rollout of %s did not end", sc.Name)
	}
	s.Makespan = h.RunningStatus.EndTime.Sub(h.RunningStatus.StartTime)
	s.Status = h.RunningStatus.Code
	s.Upgraded = h.Progress.SuccessfulInstanceCount
	s.Failed = h.Progress.FailedInstanceCount
	for _, b := range set.Batches {
		if b.Attempt == set.Batches[len(set.Batches)-1].Attempt {
			s.Batches++
		}
	}
	m, err := harness.ModelOf(&sc.ScaleSets[0], r.Start)
	if err != nil {
		return err
	}
	s.Bound = LowerBound(m)
	return nil
}

// runCost is what one measured run cost the process.
type runCost struct {
	wall, cpu     time.Duration
	bytes, allocs uint64
}

// runMeasured runs sc on the sim and measures its wall time, CPU time and
// allocations; a run that misses its expectations is an error.
func runMeasured(ctx context.Context, sc *scenario.File, wall func() time.Time) (*harness.Result, runCost, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := processCPU()
	start := wall()
	r, err := harness.Run(ctx, sc, harness.Options{Fleet: "sim"})
	c := runCost{wall: wall().Sub(start), cpu: processCPU() - cpu0}
	runtime.ReadMemStats(&after)
	c.bytes, c.allocs = after.TotalAlloc-before.TotalAlloc, after.Mallocs-before.Mallocs
	if err != nil {
		return nil, c, err
	}
	if !r.OK {
		return nil, c, fmt.Errorf("bench: %s did not meet its expectations: %s", sc.Name, failedExpectations(r))
	}
	return r, c, nil
}

func failedExpectations(r *harness.Result) string {
	msg := r.Error
	for _, e := range r.Expectations {
		if !e.OK {
			msg += fmt.Sprintf("; %s expected %s, got %s", e.Field, e.Expected, e.Got)
		}
	}
	return msg
}

// processCPU is the process's user+system CPU time so far; 0 where getrusage
// is unavailable.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
