package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/osupgrade/osupgrade/bench"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/reports"
)

func init() {
	commands["bench"] = command{"measure rollout throughput (sim, Docker, Swarm) and write the benchmark report", benchMain}
}

// benchDocker readies the Docker ways: the engine limit and Swarm always,
// our rollout when the "docker" fleet backend is linked in.
func benchDocker(ctx context.Context, pr *progress.Printer, timeScale float64) (bench.DockerWays, string, error) {
	ours, _ := lookupFleet("docker") // not linked: our rollout is not measured
	d, version, err := bench.NewDocker(ctx, bench.DockerOptions{Ours: ours, Progress: pr, TimeScale: timeScale})
	if err != nil {
		return nil, "", err
	}
	return d, version, nil
}

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("bench", stderr)
	quick := fs.Bool("quick", false, "CI mode: simulated fleets up to 10^5 instances, the fleet case at 10 and 100 sets of 100, Docker at 50 containers")
	out := fs.String("out", "reports/out", "write bench.json, bench.md, bench.html and bench.txt (Go benchmark format) here")
	baseline := fs.String("baseline", "bench/baseline.json", "compare with this report; \"\" for none")
	dockerMode := fs.String("docker", "auto", "Docker cases: auto (when the engine answers), on (fail without it) or off")
	only := fs.String("only", "", "measure only sim, planner, fleet, serve or docker")
	fleetSets := fs.String("fleet-sets", "", "fleet case: comma-separated scale set counts (default 10,100,1000,10000; --quick 10,100); \"none\" skips the case")
	fleetInstances := fs.String("fleet-instances", "", "fleet case: comma-separated instances per set (default 100,1000; --quick 100)")
	fleetReps := fs.Int("fleet-reps", 0, "fleet case: repetitions of each size (default 5 up to 10^5 instances in all, 3 above)")
	serveSets := fs.Int("serve-sets", -1, "serve case: scale sets rolling at once while GET latency is measured (default 1000; --quick 100; 0 skips the case)")
	dockerSizes := fs.String("docker-sizes", "", "comma-separated container counts (default 50,100,200; --quick 50)")
	dockerReps := fs.Int("docker-reps", 0, "repetitions of each Docker way (default 5; --quick 2, the least a confidence interval needs)")
	dockerWithin := fs.Duration("docker-within", 0, "wall-time budget for the Docker cases: no turn of the three ways starts once it is spent, and each case reports the turns made (0: none)")
	timeScale := fs.Float64("time-scale", 20, "docker: scenario seconds per wall second for our rollout and the agents of all three ways (at 60 this machine's container start-up, about a second each, is a minute of scenario time and batches miss the 5-minute wait)")
	progressMode := progressFlag(fs)
	failOnRegression := fs.Bool("fail-on-regression", false, "exit 1 when a quantity regressed against the baseline")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: osupgrade bench [--quick] [--out DIR] [--baseline FILE] [--docker auto|on|off] [--progress auto|plain|none]\n\nExit status: 0 measured (regressions are flagged in the report), 1 a run failed or --fail-on-regression and a regression, 2 usage.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "osupgrade bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	switch *dockerMode {
	case "auto", "on", "off":
	default:
		fmt.Fprintf(stderr, "osupgrade bench: --docker is %q, want auto, on or off\n", *dockerMode)
		return 2
	}
	var base *bench.Report
	if *baseline != "" {
		b, err := bench.LoadReport(*baseline)
		switch {
		case err == nil:
			base = b
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(stderr, "bench: no baseline at %s; nothing to compare with\n", *baseline)
		default:
			fmt.Fprintf(stderr, "osupgrade bench: baseline: %v\n", err)
			return 2
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "osupgrade bench: --out: %v\n", err)
		return 2
	}
	txt, err := os.Create(filepath.Join(*out, "bench.txt"))
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade bench: %v\n", err)
		return 1
	}
	defer txt.Close()

	cfg := bench.DefaultConfig(*quick)
	ok := true
	cfg.Bench = txt
	if cfg.Progress = newPrinter("bench", *progressMode, stderr); cfg.Progress == nil {
		return 2
	}
	if *fleetSets != "" {
		if cfg.FleetSets = nil; *fleetSets != "none" {
			if cfg.FleetSets, ok = positiveInts(stderr, "--fleet-sets", *fleetSets); !ok {
				return 2
			}
		}
	}
	if *fleetInstances != "" {
		if cfg.FleetInstances, ok = positiveInts(stderr, "--fleet-instances", *fleetInstances); !ok {
			return 2
		}
	}
	switch {
	case *fleetReps < 0:
		fmt.Fprintf(stderr, "osupgrade bench: --fleet-reps is %d, want at least 1 (0: the default)\n", *fleetReps)
		return 2
	case *fleetReps > 0:
		n := *fleetReps
		cfg.FleetReps = func(int, int) int { return n }
	}
	switch {
	case *serveSets == 0:
		cfg.Serve = nil
	case *serveSets > 0:
		cfg.Serve.Sets = *serveSets
	case *serveSets < -1:
		fmt.Fprintf(stderr, "osupgrade bench: --serve-sets is %d, want 0 (skip) or more\n", *serveSets)
		return 2
	}
	switch *only {
	case "":
	case "sim":
		cfg.PlannerSizes, cfg.FleetSets, cfg.Serve = nil, nil, nil
		*dockerMode = "off"
	case "planner":
		cfg.SimSizes, cfg.FleetSets, cfg.Serve = nil, nil, nil
		*dockerMode = "off"
	case "fleet":
		cfg.SimSizes, cfg.PlannerSizes, cfg.Serve = nil, nil, nil
		*dockerMode = "off"
	case "serve":
		cfg.SimSizes, cfg.PlannerSizes, cfg.FleetSets = nil, nil, nil
		*dockerMode = "off"
	case "docker":
		cfg.SimSizes, cfg.PlannerSizes, cfg.FleetSets, cfg.Serve = nil, nil, nil, nil
	default:
		fmt.Fprintf(stderr, "osupgrade bench: --only is %q, want sim, planner, fleet, serve or docker\n", *only)
		return 2
	}
	if *dockerSizes != "" {
		if cfg.DockerSizes, ok = positiveInts(stderr, "--docker-sizes", *dockerSizes); !ok {
			return 2
		}
	}
	if *timeScale <= 0 {
		fmt.Fprintf(stderr, "osupgrade bench: --time-scale is %v, want more than 0\n", *timeScale)
		return 2
	}
	if *dockerReps < 0 {
		fmt.Fprintf(stderr, "osupgrade bench: --docker-reps is %d, want at least 1\n", *dockerReps)
		return 2
	}
	if *dockerReps > 0 {
		cfg.DockerReps = *dockerReps
	}
	if *dockerWithin < 0 {
		fmt.Fprintf(stderr, "osupgrade bench: --docker-within is %s, want 0 (none) or more\n", *dockerWithin)
		return 2
	}
	cfg.DockerWithin = *dockerWithin
	dockerVersion := ""
	switch {
	case *dockerMode == "off":
		cfg.DockerSkip = "--docker off"
	default:
		ways, version, err := benchDocker(ctx, cfg.Progress, *timeScale)
		if err != nil {
			if *dockerMode == "on" {
				fmt.Fprintf(stderr, "osupgrade bench: docker: %v\n", err)
				return 1
			}
			cfg.DockerSkip = err.Error()
			fmt.Fprintf(stderr, "bench: Docker cases skipped: %v\n", err)
		} else {
			cfg.Docker = ways
			dockerVersion = version
			defer func() {
				if err := ways.Close(context.WithoutCancel(ctx)); err != nil {
					fmt.Fprintf(stderr, "osupgrade bench: docker cleanup: %v\n", err)
				}
			}()
		}
	}
	r, err := bench.Run(ctx, cfg)
	if err != nil && r == nil {
		fmt.Fprintf(stderr, "osupgrade bench: %v\n", err)
		return 1
	}
	interrupted := err != nil // r holds what was measured before the interrupt
	r.Env.Docker = dockerVersion
	if base != nil {
		r.Baseline = r.CompareWith(base)
	}
	if err := reports.WriteBench(*out, r); err != nil {
		fmt.Fprintf(stderr, "osupgrade bench: %v\n", err)
		return 1
	}
	reports.WriteBenchMarkdown(stdout, r)
	fmt.Fprintf(stderr, "bench: wrote %s, %s, %s and bench.txt in %s\n", reports.BenchJSON, reports.BenchMarkdown, reports.BenchHTML, *out)
	if interrupted {
		fmt.Fprintf(stderr, "osupgrade bench: %s\n", r.Interrupted)
		return 1
	}
	if *failOnRegression && r.Baseline != nil && r.Baseline.Regressions > 0 {
		return 1
	}
	return 0
}

// positiveInts reads a comma-separated list of counts for flag; false
// (and a line on stderr naming the flag and the bad entry) when one is not
// a positive integer.
func positiveInts(stderr io.Writer, flag, list string) ([]int, bool) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "osupgrade bench: %s: %q is not a positive count\n", flag, f)
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}
