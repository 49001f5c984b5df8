package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// DockerWays are the three ways a Docker fleet of n containers goes from one
// image to the next. Each call does one whole rollout and returns its wall
// time; Prepare readies n containers for all three (and is not timed).
type DockerWays interface {
	Prepare(ctx context.Context, n int) error
	Ours(ctx context.Context, n int) (time.Duration, error)
	Limit(ctx context.Context, n int) (time.Duration, error)
	Swarm(ctx context.Context, n int) (time.Duration, error)
	// Settings describes concurrency, parallelism and time scale.
	Settings(n int) string
	Close(ctx context.Context) error
}

// Config says what a suite run measures.
type Config struct {
	Quick        bool
	SimSizes     []int
	Mixes        []Mix
	PlannerSizes []int
	// FleetSets are the set counts of the fleet case, each with every
	// FleetInstances per set and every mix in Mixes; FleetReps its
	// repetitions (of a case of sets × instances).
	FleetSets      []int
	FleetInstances []int
	FleetReps      func(sets, instances int) int
	// Serve is the serve-under-a-fleet case; nil: not run.
	Serve *ServeConfig
	// Reps is the number of repetitions of a case of n instances.
	Reps func(n int) int
	// Docker nil: the Docker cases are skipped with DockerSkip as the reason.
	Docker      DockerWays
	DockerSkip  string
	DockerSizes []int
	DockerReps  int
	// DockerWithin is a wall-time budget for the Docker cases (0: none): no
	// turn starts once it has passed, and the case reports the turns made.
	DockerWithin time.Duration
	// Progress shows each turn (a live line on a terminal, a line each in
	// a log) and what failed; nil: none.
	Progress *progress.Printer
	// Bench receives every repetition in Go's benchmark format, so that
	// benchstat compares two runs; nil: none.
	Bench io.Writer
	Wall  func() time.Time
}

// DefaultConfig is the full suite, or with quick the CI one (sim up to
// 10^5, Docker at 50 containers).
func DefaultConfig(quick bool) Config {
	c := Config{
		Quick:        quick,
		SimSizes:     []int{1_000, 10_000, 100_000, 1_000_000},
		Mixes:        Mixes,
		PlannerSizes: []int{1_000, 10_000, 100_000, 1_000_000},
		Reps: func(n int) int {
			switch {
			case n <= 10_000:
				return 20
			case n <= 100_000:
				return 10
			}
			return 7
		},
		DockerSizes:    []int{50, 100, 200},
		DockerReps:     5,
		FleetSets:      []int{10, 100, 1_000, 10_000},
		FleetInstances: []int{100, 1_000},
		FleetReps:      fleetReps,
		Serve:          DefaultServeConfig(quick),
		Wall:           time.Now,
	}
	if quick {
		c.SimSizes = c.SimSizes[:3]
		c.PlannerSizes = c.PlannerSizes[:3]
		c.Reps = func(n int) int {
			if n <= 10_000 {
				return 10
			}
			return 5
		}
		c.DockerSizes = []int{50}
		c.DockerReps = 2 // the least a t interval needs; CI's budget
		// 1,000 sets and more are the full suite's: until the runner steps
		// only the sets that are due, 300 sets took 648 s.
		c.FleetSets = []int{10, 100}
		c.FleetInstances = []int{100}
	}
	return c
}

// fleetReps: fewer repetitions of the larger fleets (a whole platform
// rollout each), never fewer than the 3 an interval of some use needs.
func fleetReps(sets, instances int) int {
	switch n := sets * instances; {
	case n <= 100_000:
		return 5
	}
	return 3
}

// Run measures everything cfg names and returns the report (without a
// baseline comparison; see Report.CompareWith).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Wall == nil {
		cfg.Wall = time.Now
	}
	r := &Report{Schema: ReportSchema, Started: cfg.Wall().UTC(), Quick: cfg.Quick, Env: environment(), QuantileDefinition: QuantileDefinition}
	p := &steps{p: cfg.Progress, total: countSteps(cfg)}
	bw := newBenchWriter(cfg.Bench, r.Env)

	for _, mix := range cfg.Mixes {
		for _, n := range cfg.SimSizes {
			c, err := runSimCase(ctx, cfg, mix, n, p, bw)
			if err != nil {
				return r.stopped(ctx, err, fmt.Sprintf("sim mix=%s N=%d", mix, n))
			}
			r.Sim = append(r.Sim, c)
		}
		var ns, wall, cpu []float64
		for _, c := range r.Sim {
			if c.Mix == mix {
				ns, wall, cpu = append(ns, float64(c.N)), append(wall, c.Wall.Mean), append(cpu, c.CPU.Mean)
			}
		}
		if len(ns) >= 2 {
			g, err := FitGrowth(fmt.Sprintf("sim wall time, mix=%s", mix), ns, wall)
			if err != nil {
				return nil, err
			}
			r.Growth = append(r.Growth, g)
			if g, err := FitGrowth(fmt.Sprintf("sim CPU time, mix=%s", mix), ns, cpu); err == nil {
				r.Growth = append(r.Growth, g)
			}
		}
	}
	for _, mix := range cfg.Mixes {
		for _, inst := range cfg.FleetInstances {
			var sets, wall, cpu []float64
			for _, n := range cfg.FleetSets {
				c, err := runFleetCase(ctx, cfg, mix, n, inst, p, bw)
				if err != nil {
					return r.stopped(ctx, err, fmt.Sprintf("fleet mix=%s sets=%d instances=%d", mix, n, inst))
				}
				r.Fleet = append(r.Fleet, c)
				sets, wall, cpu = append(sets, float64(n)), append(wall, c.Wall.Mean), append(cpu, c.CPU.Mean)
			}
			if len(sets) >= 2 {
				if g, err := FitGrowth(fleetGrowthName("wall", mix, inst), sets, wall); err == nil {
					r.Growth = append(r.Growth, g)
				}
				if g, err := FitGrowth(fleetGrowthName("CPU", mix, inst), sets, cpu); err == nil {
					r.Growth = append(r.Growth, g)
				}
			}
		}
	}
	if cfg.Serve != nil {
		p.step(fmt.Sprintf("serve: %d sets rolling, %d GETs", cfg.Serve.Sets, cfg.Serve.Requests))
		c, err := RunServe(ctx, *cfg.Serve)
		if err != nil {
			return r.stopped(ctx, err, "serve")
		}
		r.Serve = &c
		for _, q := range []struct {
			name string
			s    Summary
		}{{"scaleSet", c.ScaleSet}, {"rollingUpgradesLatest", c.Latest}} {
			bw.line(fmt.Sprintf("BenchmarkServe/GET=%s/sets=%d", q.name, c.Sets), time.Duration(q.s.P50*float64(time.Millisecond)), 0, 0,
				metric{q.s.P50, "p50-ms"}, metric{c.P99(q.name), "p99-ms"})
		}
	}
	for _, n := range cfg.PlannerSizes {
		c, err := runPlannerCase(ctx, cfg, n, p, bw)
		if err != nil {
			return r.stopped(ctx, err, fmt.Sprintf("planner N=%d", n))
		}
		r.Planner = append(r.Planner, c)
	}
	if cfg.Docker == nil {
		r.DockerSkipped = cfg.DockerSkip
	} else {
		var deadline time.Time
		if cfg.DockerWithin > 0 {
			deadline = cfg.Wall().Add(cfg.DockerWithin)
		}
		for k, n := range cfg.DockerSizes {
			if !deadline.IsZero() && !cfg.Wall().Before(deadline) {
				r.DockerNotRun = fmt.Sprintf("the Docker budget (--docker-within %s) was spent before N=%s", cfg.DockerWithin, joinInts(cfg.DockerSizes[k:]))
				break
			}
			c, err := runDockerCase(ctx, cfg, n, deadline, p, bw)
			if c.Reps > 0 || len(c.Skipped) > 0 {
				r.Docker = append(r.Docker, c)
			}
			if err != nil {
				return r.stopped(ctx, err, fmt.Sprintf("docker N=%d", n))
			}
		}
	}
	p.done()
	r.Env.LoadEnd = loadAverage()
	r.Targets = targets(r)
	return r, nil
}

// stopped ends a run that err cut short: when the context was cancelled
// (an interrupt), r keeps every case measured to the end, and every
// complete turn of the Docker case in progress, so that nothing measured is
// lost; any other error loses the report.
func (r *Report) stopped(ctx context.Context, err error, during string) (*Report, error) {
	if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return nil, err
	}
	r.Interrupted = fmt.Sprintf("interrupted during %s (%v): the cases above it are complete, later ones were not run", during, ctx.Err())
	r.Env.LoadEnd = loadAverage()
	r.Targets = targets(r)
	return r, err
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func countSteps(cfg Config) int {
	n := 0
	for range cfg.Mixes {
		for _, s := range cfg.SimSizes {
			n += cfg.Reps(s)
		}
	}
	for _, s := range cfg.PlannerSizes {
		n += cfg.Reps(s)
	}
	for range cfg.Mixes {
		for _, inst := range cfg.FleetInstances {
			for _, sets := range cfg.FleetSets {
				n += cfg.FleetReps(sets, inst)
			}
		}
	}
	if cfg.Serve != nil {
		n++
	}
	if cfg.Docker != nil {
		n += 3 * cfg.DockerReps * len(cfg.DockerSizes)
	}
	return n
}

func runSimCase(ctx context.Context, cfg Config, mix Mix, n int, p *steps, bw *benchWriter) (SimCase, error) {
	sc, err := SimScenario(n, mix)
	if err != nil {
		return SimCase{}, err
	}
	reps := cfg.Reps(n)
	var wall, cpu, nsPer, perSec, bytesPer []float64
	var last SimSample
	for i := range reps {
		if err := ctx.Err(); err != nil {
			return SimCase{}, err
		}
		p.step(fmt.Sprintf("sim mix=%s N=%d rep %d/%d", mix, n, i+1, reps))
		runtime.GC() // as testing does before a benchmark: start from a clean heap
		s, err := RunSim(ctx, sc, mix, cfg.Wall)
		if err != nil {
			return SimCase{}, err
		}
		last = s
		secs := s.Wall.Seconds()
		wall = append(wall, secs)
		cpu = append(cpu, s.CPU.Seconds())
		nsPer = append(nsPer, float64(s.Wall.Nanoseconds())/float64(n))
		perSec = append(perSec, float64(n)/secs)
		bytesPer = append(bytesPer, float64(s.Bytes)/float64(n))
		bw.line(fmt.Sprintf("BenchmarkRollout/mix=%s/N=%d", mix, n), s.Wall, s.Bytes, s.Allocs,
			metric{float64(s.Wall.Nanoseconds()) / float64(n), "ns/instance"},
			metric{float64(n) / secs, "instances/s"},
			metric{float64(s.Bytes) / float64(n), "B/instance"},
			metric{s.Makespan.Seconds(), "makespan-s"},
			metric{s.MakespanRatio(), "makespan/bound"},
			metric{s.CPU.Seconds(), "cpu-s"})
	}
	return SimCase{
		Mix: mix, N: n, Reps: reps,
		Wall: Summarize("s", wall), CPU: Summarize("cpu s", cpu), NsPerInstance: Summarize("ns/instance", nsPer),
		InstancesPerSec: Summarize("instances/s", perSec), BytesPerInstance: Summarize("B/instance", bytesPer),
		Makespan: last.Makespan.Seconds(), Bound: last.Bound, MakespanRatio: last.MakespanRatio(),
		Status: last.Status, Batches: last.Batches, Upgraded: last.Upgraded, Failed: last.Failed,
	}, nil
}

func fleetGrowthName(q string, mix Mix, instances int) string {
	return fmt.Sprintf("fleet %s time in sets, mix=%s, %d instances per set", q, mix, instances)
}

func runFleetCase(ctx context.Context, cfg Config, mix Mix, sets, instances int, p *steps, bw *benchWriter) (FleetCase, error) {
	sc, err := FleetScenario(sets, instances, mix)
	if err != nil {
		return FleetCase{}, err
	}
	reps := cfg.FleetReps(sets, instances)
	var wall, cpu, bytesPer []float64
	var last FleetSample
	for i := range reps {
		if err := ctx.Err(); err != nil {
			return FleetCase{}, err
		}
		p.step(fmt.Sprintf("fleet mix=%s %d sets × %d rep %d/%d", mix, sets, instances, i+1, reps))
		runtime.GC()
		s, err := RunFleet(ctx, sc, mix, cfg.Wall)
		if err != nil {
			return FleetCase{}, err
		}
		last = s
		n := float64(sets * instances)
		wall = append(wall, s.Wall.Seconds())
		cpu = append(cpu, s.CPU.Seconds())
		bytesPer = append(bytesPer, float64(s.Bytes)/n)
		bw.line(fmt.Sprintf("BenchmarkFleet/mix=%s/sets=%d/instances=%d", mix, sets, instances), s.Wall, s.Bytes, s.Allocs,
			metric{float64(s.Bytes) / n, "B/instance"},
			metric{s.CPU.Seconds(), "cpu-s"},
			metric{s.Makespan.Rolling.Seconds(), "rolling-s"},
			metric{s.Makespan.Ratio(), "rolling/bound"},
			metric{s.Makespan.RegionRatio(), "rolling/region-bound"})
	}
	return FleetCase{
		Mix: mix, Sets: sets, Instances: instances, Reps: reps,
		Wall: Summarize("s", wall), CPU: Summarize("cpu s", cpu), BytesPerInstance: Summarize("B/instance", bytesPer),
		Makespan: last.Makespan, Ratio: last.Makespan.Ratio(), RegionRatio: last.Makespan.RegionRatio(), Completed: last.Completed,
	}, nil
}

func runPlannerCase(ctx context.Context, cfg Config, n int, p *steps, bw *benchWriter) (PlannerCase, error) {
	reps := cfg.Reps(n)
	base := PlannerFleet(n)
	in := make([]plan.Instance, n)
	batch := plan.BatchSize(n, plan.DefaultPolicy().MaxBatchInstancePercent)
	var planNs, decNs []float64
	decisions := 0
	for i := range reps {
		if err := ctx.Err(); err != nil {
			return PlannerCase{}, err
		}
		p.step(fmt.Sprintf("planner N=%d rep %d/%d", n, i+1, reps))
		runtime.GC()
		t0 := cfg.Wall()
		plan.PlanBatches(base, []string{"1", "2", "3"}, "2", batch, false, plan.HealthExtension)
		t1 := cfg.Wall()
		copy(in, base)
		t2 := cfg.Wall()
		d, err := PlannerRollout(in, clock.Epoch)
		if err != nil {
			return PlannerCase{}, err
		}
		t3 := cfg.Wall()
		decisions = d
		planNs = append(planNs, float64(t1.Sub(t0).Nanoseconds())/float64(n))
		decNs = append(decNs, float64(t3.Sub(t2).Nanoseconds())/float64(d))
		bw.line(fmt.Sprintf("BenchmarkPlanner/PlanBatches/N=%d", n), t1.Sub(t0), 0, 0, metric{planNs[len(planNs)-1], "ns/instance"})
		bw.line(fmt.Sprintf("BenchmarkPlanner/Rollout/N=%d", n), t3.Sub(t2), 0, 0, metric{decNs[len(decNs)-1], "ns/decision"})
	}
	return PlannerCase{N: n, Reps: reps, Decisions: decisions, PlanNsPerInstance: Summarize("ns/instance", planNs), DecisionNs: Summarize("ns/decision", decNs)}, nil
}

// runDockerCase measures the three ways on n containers, turn by turn. A
// turn is one measurement of each way; one cut short by ctx is dropped, and
// no turn starts after deadline (zero: none). c.Reps is the turns made.
func runDockerCase(ctx context.Context, cfg Config, n int, deadline time.Time, p *steps, bw *benchWriter) (c DockerCase, err error) {
	d := cfg.Docker
	c = DockerCase{N: n, Settings: d.Settings(n)}
	p.step(fmt.Sprintf("docker N=%d: preparing", n))
	if err := d.Prepare(ctx, n); err != nil {
		return c, fmt.Errorf("docker N=%d: prepare: %w", n, err)
	}
	type way struct {
		name string
		run  func(context.Context, int) (time.Duration, error)
		out  []float64
		err  error
	}
	ways := []*way{{name: "ours", run: d.Ours}, {name: "limit", run: d.Limit}, {name: "swarm", run: d.Swarm}}
turns:
	for rep := range cfg.DockerReps {
		if !deadline.IsZero() && !cfg.Wall().Before(deadline) {
			c.Stopped = fmt.Sprintf("%d of %d turns: the Docker budget (--docker-within %s) was spent", rep, cfg.DockerReps, cfg.DockerWithin)
			break
		}
		// Alternate, and rotate who goes first, so that drift and warm
		// caches favour no way.
		for k := range ways {
			w := ways[(rep+k)%len(ways)]
			if w.err != nil {
				continue
			}
			if err = ctx.Err(); err == nil {
				p.step(fmt.Sprintf("docker N=%d %s rep %d/%d", n, w.name, rep+1, cfg.DockerReps))
				var t time.Duration
				if t, err = w.run(ctx, n); err == nil {
					w.out = append(w.out, t.Seconds())
					p.note(fmt.Sprintf("docker N=%d %s rep %d/%d: %.1f s", n, w.name, rep+1, cfg.DockerReps, t.Seconds()))
					bw.line(fmt.Sprintf("BenchmarkDocker/way=%s/N=%d", w.name, n), t, 0, 0, metric{float64(n) / t.Seconds(), "instances/s"})
					continue
				}
			}
			if ctx.Err() != nil {
				// Interrupted: keep the complete turns only, so the
				// ratios stay paired.
				for _, w := range ways {
					w.out = w.out[:min(len(w.out), rep)]
				}
				c.Stopped = fmt.Sprintf("%d of %d turns: interrupted", rep, cfg.DockerReps)
				err = ctx.Err()
				break turns
			}
			p.note(fmt.Sprintf("docker N=%d %s failed (not run again): %v", n, w.name, err))
			w.err, err = err, nil
		}
		c.Reps = rep + 1
	}
	for _, w := range ways {
		if w.err != nil {
			c.Skipped = append(c.Skipped, fmt.Sprintf("%s: %v", w.name, w.err))
			w.out = nil
		}
	}
	c.Ours, c.Limit, c.Swarm = Summarize("s", ways[0].out), Summarize("s", ways[1].out), Summarize("s", ways[2].out)
	if g, ok := d.(healthGated); ok && len(ways[1].out) > 0 {
		gate := g.HealthGate(n).Seconds()
		bound := make([]float64, len(ways[1].out))
		for i, l := range ways[1].out {
			bound[i] = l + gate
		}
		c.HealthGate, c.LowerBound = gate, Summarize("s", bound)
		if r, err := PairedRatio("ours", "lower bound", ways[0].out, bound); err == nil {
			c.OursBound = &r
		}
	}
	if r, err := PairedRatio("ours", "limit", ways[0].out, ways[1].out); err == nil {
		c.OursLim = &r
	}
	if r, err := PairedRatio("ours", "swarm", ways[0].out, ways[2].out); err == nil {
		c.OursSwm = &r
	}
	return c, err
}

// healthGated ways know the wall time a health-gated rollout of n must
// spend, beyond the engine's recreate, on boots and health confirmations
// (Docker.HealthGate).
type healthGated interface {
	HealthGate(n int) time.Duration
}

// targets are the targets, for what this run measured.
func targets(r *Report) []Target {
	var out []Target
	for _, c := range r.Sim {
		if c.Mix != FaultFree || c.N != 1_000_000 {
			continue
		}
		out = append(out,
			Target{Name: "sim 10^6 fault-free: wall time", Want: "≤ 1 s", Got: fmt.Sprintf("%.3f s (95%% CI %.3f–%.3f; CPU %.3f s)", c.Wall.Mean, c.Wall.CILo, c.Wall.CIHi, c.CPU.Mean), Met: c.Wall.Mean <= 1},
			Target{Name: "sim 10^6 fault-free: bytes per instance", Want: "≤ 512 B", Got: fmt.Sprintf("%.0f B", c.BytesPerInstance.Mean), Met: c.BytesPerInstance.Mean <= 512},
			Target{Name: "sim 10^6 fault-free: makespan ÷ lower bound", Want: "1.00", Got: fmt.Sprintf("%.2f", c.MakespanRatio), Met: fmt.Sprintf("%.2f", c.MakespanRatio) == "1.00"},
		)
	}
	for _, c := range r.Fleet {
		if c.Mix != FaultFree {
			continue
		}
		if (c.Sets == 1_000 && c.Instances == 1_000) || (c.Sets == 10_000 && c.Instances == 100) {
			out = append(out, Target{Name: fmt.Sprintf("fleet %d sets × %d fault-free: wall time", c.Sets, c.Instances), Want: "≤ 1 s",
				Got: fmt.Sprintf("%.3f s (95%% CI %.3f–%.3f; CPU %.3f s)", c.Wall.Mean, c.Wall.CILo, c.Wall.CIHi, c.CPU.Mean), Met: c.Wall.Mean <= 1})
		}
		if c.Sets == 1_000 && c.Instances == 1_000 {
			out = append(out,
				Target{Name: "fleet 1000 × 1000 fault-free: rolling makespan ÷ lower bound", Want: "1.00",
					Got: fmt.Sprintf("%.2f (%s ÷ %s; total %s over %d phases)", c.Ratio, c.Makespan.Rolling, c.Makespan.Bound, c.Makespan.Total, c.Makespan.Phases), Met: fmt.Sprintf("%.2f", c.Ratio) == "1.00"},
				Target{Name: "fleet 1000 × 1000 fault-free: rolling makespan ÷ region-wide R-AVAIL-1 bound", Want: "1.00",
					Got: fmt.Sprintf("%.2f (%s ÷ %s)", c.RegionRatio, c.Makespan.Rolling, c.Makespan.RegionBound), Met: fmt.Sprintf("%.2f", c.RegionRatio) == "1.00"})
		}
	}
	for _, g := range r.Growth {
		if g.Quantity == fleetGrowthName("wall", FaultFree, 1_000) && g.Points >= 3 {
			out = append(out, Target{Name: fmt.Sprintf("fleet fault-free, 1000 per set: growth exponent in sets (%d sizes)", g.Points), Want: "≤ 1.1", Got: fmt.Sprintf("%.3f (R² %.3f)", g.Exponent, g.R2), Met: g.Exponent <= 1.1})
		}
	}
	if c := r.Serve; c != nil && c.Sets == 1_000 {
		for _, name := range []string{"scaleSet", "rollingUpgradesLatest"} {
			q := c.Quantile(name, 0.99)
			out = append(out, Target{Name: fmt.Sprintf("serve, %d sets rolling: GET %s p99", c.Sets, name), Want: "≤ 50 ms",
				Got: fmt.Sprintf("%.1f ms (95%% CI %.1f–%.1f, %d requests)", q.Value, q.CILo, q.CIHi, q.N), Met: q.N > 0 && q.Value <= 50})
		}
	}
	for _, g := range r.Growth {
		if g.Quantity == fmt.Sprintf("sim wall time, mix=%s", FaultFree) && g.Points == 4 {
			out = append(out, Target{Name: "sim fault-free: growth exponent 10^3..10^6", Want: "≤ 1.05", Got: fmt.Sprintf("%.3f (R² %.3f)", g.Exponent, g.R2), Met: g.Exponent <= 1.05})
		}
	}
	for _, c := range r.Docker {
		if c.N != 200 {
			continue
		}
		if c.OursLim != nil {
			out = append(out, Target{Name: "docker N=200: ours ÷ engine limit", Want: "≤ 1.10", Got: fmt.Sprintf("%.2f (95%% CI %.2f–%.2f)", c.OursLim.Ratio, c.OursLim.CILo, c.OursLim.CIHi), Met: c.OursLim.Ratio <= 1.10})
		}
		if c.OursBound != nil {
			out = append(out, Target{Name: "docker N=200: ours ÷ health-gated lower bound", Want: "≤ 1.05", Got: fmt.Sprintf("%.2f (95%% CI %.2f–%.2f; bound = limit + %.2f s)", c.OursBound.Ratio, c.OursBound.CILo, c.OursBound.CIHi, c.HealthGate), Met: c.OursBound.Ratio <= 1.05})
		}
		swarm := Target{Name: "docker N=200: ours ÷ Swarm", Want: "≤ 0.50 (2× faster)"}
		switch {
		case c.OursSwm != nil:
			swarm.Got, swarm.Met = fmt.Sprintf("%.2f (95%% CI %.2f–%.2f)", c.OursSwm.Ratio, c.OursSwm.CILo, c.OursSwm.CIHi), c.OursSwm.Ratio <= 0.5
		case c.Ours.N > 0 && swarmSkipped(c) != "":
			// Swarm that never completes is no ratio, and no target met.
			swarm.Got = fmt.Sprintf("no ratio: ours %.0f s; Swarm %s", c.Ours.Mean, swarmSkipped(c))
		default:
			continue
		}
		out = append(out, swarm)
	}
	return out
}

// swarmSkipped is why the Swarm way of c did not run to the end; "" when
// it did.
func swarmSkipped(c DockerCase) string {
	for _, s := range c.Skipped {
		if r, ok := strings.CutPrefix(s, "swarm: "); ok {
			return r
		}
	}
	return ""
}

func environment() Env {
	e := Env{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	e.LoadStart = loadAverage()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return e
}

// loadAverage is the 1-minute load average; 0 where /proc/loadavg is absent.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// steps numbers the benchmark's turns on its progress printer.
type steps struct {
	p     *progress.Printer
	total int
	n     int
}

// step is a turn that starts: an event, numbered.
func (p *steps) step(what string) {
	p.n++
	p.p.Event("bench [%d/%d] %s", min(p.n, p.total), p.total, what)
}

// note is a line that stays (a failure, a Docker turn's time).
func (p *steps) note(what string) {
	p.p.Note("bench: %s", what)
}

func (p *steps) done() {
	p.p.Clear()
}

type metric struct {
	v    float64
	unit string
}

// benchWriter writes Go benchmark-format lines.
type benchWriter struct {
	w     io.Writer
	procs int
}

func newBenchWriter(w io.Writer, e Env) *benchWriter {
	bw := &benchWriter{w: w, procs: runtime.GOMAXPROCS(0)}
	if w != nil {
		fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/osupgrade/osupgrade/bench\n", e.OS, e.Arch)
		if e.CPUModel != "" {
			fmt.Fprintf(w, "cpu: %s\n", e.CPUModel)
		}
	}
	return bw
}

func (b *benchWriter) line(name string, d time.Duration, bytes, allocs uint64, ms ...metric) {
	if b.w == nil {
		return
	}
	var s strings.Builder
	fmt.Fprintf(&s, "%s-%d\t1\t%d ns/op", name, b.procs, d.Nanoseconds())
	for _, m := range ms {
		fmt.Fprintf(&s, "\t%.4g %s", m.v, m.unit)
	}
	if bytes > 0 {
		fmt.Fprintf(&s, "\t%d B/op\t%d allocs/op", bytes, allocs)
	}
	fmt.Fprintln(b.w, s.String())
}
