package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/chaos"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/netfault"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/reports/junit"
)

func init() {
	commands["chaos"] = command{"run random scenarios from a seed, check the invariants, shrink failures", chaosMain}
}

func chaosMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("chaos", stderr)
	fleet := fs.String("fleet", baselineFleet, "fleet backend: "+fleetNames())
	seed := fs.Uint64("seed", 1, "the seed every scenario is drawn from")
	runs := fs.Int("runs", 100, "how many scenarios to run")
	only := fs.Int("run", -1, "replay only this run index of the seed")
	duration := fs.Duration("duration", 0, "stop starting new runs after this wall time (0: no limit)")
	maxN := fs.Int("max-instances", 0, "largest scale set (default 100000 on a virtual-clock fleet such as sim, 20 on a wall-clock one such as docker)")
	out := fs.String("out", "reports/out", "where a failing case's minimal scenario, its JSON and the JUnit XML go")
	scale := fs.Float64("time-scale", 60, "a wall-clock fleet (docker): scenario seconds per wall second")
	progressMode := progressFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: osupgrade chaos [--fleet %s] ", strings.Join(backend.Names(), "|"))
		fmt.Fprint(stderr, "[--seed S] [--runs N] [--run R] [--duration D] [--out DIR] [--progress auto|plain|none]\n\nEach run is a scenario drawn from (seed, run index), checked against I-1..I-7.\nA failing run is shrunk to a minimal scenario written to --out; the command\nprints the seed and the command that replays it. Exit status: 0 no\ninvariant broken, 1 one broken, 2 usage or environment.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || *runs < 1 {
		fs.Usage()
		return 2
	}
	fb, err := usableFleet(ctx, *fleet)
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade chaos: --fleet is %q: %v\n", *fleet, err)
		return 2
	}
	if *maxN == 0 {
		// Real processes take seconds each on a wall clock.
		*maxN = 100_000
		if fb.Clock == backend.WallClock {
			*maxN = 20
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "osupgrade chaos: --out: %v\n", err)
		return 2
	}
	pr := newPrinter("chaos", *progressMode, stderr)
	if pr == nil {
		return 2
	}
	noNetem := false
	if fb.KernelNetwork {
		if err := netfault.NetemAvailable(); err != nil {
			noNetem = true
			fmt.Fprintf(stderr, "osupgrade chaos: %v: latency faults shape the link with TBF instead (kind: tbf)\n", err)
		}
	}
	opts := harness.Options{Fleet: *fleet, Backend: fb, TimeScale: *scale, Wall: time.Now, Progress: pr.Writer()}
	run := func(s chaos.Spec) (*harness.Result, error) {
		sc, err := s.Parse()
		if err != nil {
			return nil, err
		}
		return harness.Run(ctx, sc, opts)
	}
	first, last := 0, *runs
	if *only >= 0 {
		first, last = *only, *only+1
	}
	start := time.Now()
	// Off a terminal, a line every tenth of the runs or 30 s.
	every := progress.Every{N: max(1, (last-first)/10), Interval: 30 * time.Second, Now: time.Now}
	var results []*harness.Result
	code, done, failed := 0, 0, 0
	var slowest harness.FaultTiming // the slowest fault application of all runs
	slowestRun := -1
	for i := first; i < last; i++ {
		if ctx.Err() != nil || (*duration > 0 && time.Since(start) > *duration) {
			break
		}
		spec := chaos.Generate(*seed, i, *maxN)
		if noNetem {
			spec = spec.WithoutNetem()
		}
		status := fmt.Sprintf("chaos seed %d: run %d/%d (%d instances, %d faults, %d broke an invariant) %s", *seed, i+1-first, last-first, spec.Instances, len(spec.Faults), failed, time.Since(start).Round(time.Second))
		if every.Due() {
			pr.Event("%s", status)
		} else {
			pr.Status("%s", status)
		}
		r, err := run(spec)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			pr.Clear()
			fmt.Fprintf(stderr, "osupgrade chaos: run %d: %v\n%s", i, err, spec.Render())
			return 2 // a generated scenario the harness refuses is a generator bug
		}
		done++
		if len(r.FaultTimings) > 0 && r.FaultTimings[0].Took() > slowest.Took() {
			slowest, slowestRun = r.FaultTimings[0], i
		}
		// A generated `on:` entry whose event never came is no failure:
		// chaos judges the invariants only.
		r.Expectations = slices.DeleteFunc(r.Expectations, func(e harness.Expectation) bool { return e.Field == "timeline" })
		results = append(results, r)
		broken := chaos.Violated(r)
		if len(broken) == 0 {
			continue
		}
		code, failed = 1, failed+1
		pr.Clear()
		fmt.Fprintf(stdout, "✗ seed %d run %d breaks %s\n", *seed, i, strings.Join(broken, ", "))
		for _, inv := range r.Invariants {
			if !inv.OK {
				fmt.Fprintf(stdout, "  %s: %s\n", inv.ID, inv.Detail)
			}
		}
		min := chaos.Shrink(spec, func(c chaos.Spec) bool {
			rr, err := run(c)
			return err == nil && slices.ContainsFunc(chaos.Violated(rr), func(id string) bool { return slices.Contains(broken, id) })
		}, 200)
		path := filepath.Join(*out, spec.Name+".yaml")
		if err := os.WriteFile(path, min.Render(), 0o644); err != nil {
			fmt.Fprintf(stderr, "osupgrade chaos: %v\n", err)
		}
		if mr, err := run(min); err == nil {
			b, _ := json.MarshalIndent(mr, "", "  ")
			_ = os.WriteFile(filepath.Join(*out, spec.Name+".json"), append(b, '\n'), 0o644)
		}
		fmt.Fprintf(stdout, "  minimal scenario (%d instances, %d faults): %s\n  replay: osupgrade run --fleet %s %s\n  or:     osupgrade chaos --fleet %s --seed %d --run %d\n", min.Instances, len(min.Faults), path, *fleet, path, *fleet, *seed, i)
	}
	pr.Clear()
	doc := junit.FromResults(fmt.Sprintf("osupgrade chaos seed %d", *seed), results, junit.Property{Name: "fleet", Value: *fleet}, junit.Property{Name: "seed", Value: fmt.Sprint(*seed)})
	jpath := filepath.Join(*out, fmt.Sprintf("chaos-%s-%d-junit.xml", *fleet, *seed))
	if err := junit.WriteFile(jpath, doc); err != nil {
		fmt.Fprintf(stderr, "osupgrade chaos: junit: %v\n", err)
		code = max(code, 1)
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "chaos: fleet %s, seed %d: %d runs in %s (%.1f runs/s), %d broke an invariant; JUnit %s\n", *fleet, *seed, done, el.Round(time.Millisecond), float64(done)/el.Seconds(), failed, jpath)
	if slowestRun >= 0 {
		fmt.Fprintf(stdout, "chaos: slowest fault to apply: %s on %d instances, %s wall (run %d, timeline entry %d)\n", slowest.Fault, slowest.Instances, slowest.Took().Round(time.Millisecond), slowestRun, slowest.Entry)
	}
	return code
}
