package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/reports"
)

func init() {
	commands["run"] = command{"run scenario files and check their expectations", runMain}
}

// dockerFactory is set when the Docker fleet is compiled in; dockerAvailable
// says whether the engine answers.
var (
	dockerFactory   harness.DockerFactory
	dockerAvailable func(ctx context.Context) error
)

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("run", stderr)
	fleet := fs.String("fleet", "sim", "fleet backend: sim, docker, auto (docker when the engine answers, sim otherwise), or both: each scenario that fits both fleets runs on sim, then docker, and a difference in what the fleets show at the end (each instance's version, health, provisioning state, rollback, data; each reimage batch) fails it")
	asJSON := fs.Bool("json", false, "print each scenario's result contract as one JSON line")
	out := fs.String("out", "", "write one JSON result file per scenario into this directory")
	scale := fs.Float64("time-scale", 60, "docker: scenario seconds per wall second")
	progressMode := progressFlag(fs)
	parallel := fs.Int("parallel", 0, "scenarios run at once, within a budget of Docker instances (30 per CPU); 0: 2 per CPU, 1: one after another")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: osupgrade run [--fleet sim|docker|auto|both] [--json] [--out DIR] [--progress auto|plain|none] FILE|DIR...\n\n"+
			"--fleet both: a scenario fits both fleets unless its fleets: names one, its scale sets hold more\n"+
			"than 50 instances together, or this machine cannot run it honestly on Docker (latency without\n"+
			"netem); one that does not fit runs on sim alone, and stderr says why. --out DIR writes DIR/sim\n"+
			"and DIR/docker.\n\n"+
			"Exit status: 0 every expectation and invariant held (and the fleets agreed), 1 one failed, 2 bad\n"+
			"input or usage.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "osupgrade run: name at least one scenario file or directory")
		return 2
	}
	pr := newPrinter("run", *progressMode, stderr)
	if pr == nil {
		return 2
	}
	switch *fleet {
	case "sim", "docker", "auto", "both":
	case "swarm": // i19-swarm: until the backend registry takes it
	default:
		fmt.Fprintf(stderr, "osupgrade run: --fleet is %q, want sim, docker, auto or both\n", *fleet)
		return 2
	}
	if *parallel < 0 {
		fmt.Fprintf(stderr, "osupgrade run: --parallel is %d, want 0 (the machine's default) or more\n", *parallel)
		return 2
	}
	if *scale <= 0 {
		fmt.Fprintf(stderr, "osupgrade run: --time-scale is %v, want more than 0\n", *scale)
		return 2
	}
	files, err := scenarioFiles(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade run: %v\n", err)
		return 2
	}
	// Read every file before running any: bad input runs nothing.
	var scs []*scenario.File
	bad := false
	for _, p := range files {
		sc, err := scenario.Load(p, harness.Vocabulary())
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
			continue
		}
		scs = append(scs, sc)
	}
	if bad {
		return 2
	}
	defaultFleet := *fleet
	if defaultFleet == "auto" {
		defaultFleet = "sim"
		why := "the Docker fleet is not compiled in"
		if dockerAvailable != nil {
			if err := dockerAvailable(ctx); err != nil {
				why = fmt.Sprintf("the Docker engine does not answer (%v)", err)
			} else {
				defaultFleet, why = "docker", "the Docker engine answers"
			}
		}
		fmt.Fprintf(stderr, "fleet: %s (%s)\n", defaultFleet, why)
	}
	if *fleet == "both" {
		if err := dockerUsable(ctx); err != nil {
			fmt.Fprintf(stderr, "osupgrade run: --fleet both: %v\n", err)
			return 2
		}
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintf(stderr, "osupgrade run: --out: %v\n", err)
			return 2
		}
	}
	var results []*harness.Result
	code := 0
	// emit reports one result as it ends: a long Docker run shows progress.
	emit := func(r *harness.Result, sc *scenario.File) {
		results = append(results, r)
		mark := "✓"
		if !r.OK {
			mark = "✗"
		}
		pr.Clear()
		fmt.Fprintf(stderr, "%s %s (%s, scenario %s, wall %s)\n", mark, r.Scenario, r.Fleet, r.ScenarioDuration, r.WallDuration)
		if !r.OK {
			code = max(code, 1)
		}
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", b)
		}
		if *out != "" {
			dir := *out
			if *fleet == "both" {
				dir = filepath.Join(*out, r.Fleet) // one result per fleet and scenario
			}
			b, _ := json.MarshalIndent(r, "", "  ")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				fmt.Fprintf(stderr, "osupgrade run: --out: %v\n", err)
				code = 1
			} else if err := os.WriteFile(filepath.Join(dir, r.Scenario+".json"), append(b, '\n'), 0o644); err != nil {
				fmt.Fprintf(stderr, "osupgrade run: %v\n", err)
				code = 1
			} else if err := reports.WriteRun(dir, r, sc); err != nil {
				fmt.Fprintf(stderr, "osupgrade run: report: %v\n", err)
				code = 1
			}
		}
	}
	budget := budgetFor(*parallel)
	jobs := make([]runJob, len(scs))
	runs := make([]func(ctx context.Context) ([]*harness.Result, error), len(scs))
	for i, sc := range scs {
		fl := defaultFleet
		if fl == "docker" && *fleet == "auto" {
			if err := harness.FitsDocker(sc); err != nil {
				fl = "sim"
				fmt.Fprintf(stderr, "fleet: sim for %s (%v)\n", sc.Name, err)
			}
		}
		// The printer is safe for scenarios at once; each event names its
		// scenario.
		opts := harness.Options{Fleet: fl, Docker: dockerFactory, TimeScale: *scale, Printer: pr, Wall: time.Now}
		if *fleet == "swarm" { // i19-swarm: until the backend registry takes it
			opts.Fleet, opts.Docker = "swarm", swarmFactory
		}
		switch {
		case *fleet != "both":
			runs[i] = func(ctx context.Context) ([]*harness.Result, error) { return runOne(ctx, sc, opts) }
		case harness.FitsBothFleets(sc) != nil:
			fmt.Fprintf(stderr, "fleet: sim alone for %s, not compared (%v)\n", sc.Name, harness.FitsBothFleets(sc))
			opts.Fleet = "sim"
			runs[i] = func(ctx context.Context) ([]*harness.Result, error) { return runOne(ctx, sc, opts) }
		default:
			fl = "docker" // the sim run before it is the lighter
			runs[i] = func(ctx context.Context) ([]*harness.Result, error) {
				simOpts, dockerOpts := opts, opts
				simOpts.Fleet, dockerOpts.Fleet = "sim", "docker"
				a, b, err := harness.Compare(ctx, sc, simOpts, dockerOpts)
				var rs []*harness.Result
				for _, r := range []*harness.Result{a, b} {
					if r != nil {
						rs = append(rs, r)
					}
				}
				return rs, err
			}
		}
		jobs[i] = jobFor(sc, opts.Fleet)
	}
	rss := make([][]*harness.Result, len(scs))
	errs := make([]error, len(scs))
	stop := -1 // the exit status that ends the run early
	runScheduled(ctx, budget, jobs, func(ctx context.Context, i int) {
		rss[i], errs[i] = runs[i](ctx)
	}, func(i int) bool {
		sc, err := scs[i], errs[i]
		for _, r := range rss[i] {
			emit(r, sc)
		}
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "osupgrade run: interrupted")
				stop = 1
				return false
			}
			fmt.Fprintf(stderr, "%s: %v\n", sc.Path, err)
			if errors.Is(err, harness.ErrBadInput) {
				stop = 2
				return false
			}
			code = 1
		}
		return true
	})
	if stop >= 0 {
		return stop
	}
	if *out != "" {
		// The whole run's index.html, summary.md and junit.xml.
		if err := reports.WriteRunIndex(*out, results); err != nil {
			fmt.Fprintf(stderr, "osupgrade run: run index: %v\n", err)
			code = 1
		}
	}
	if !*asJSON {
		printSummary(stdout, results)
	}
	return code
}

func runOne(ctx context.Context, sc *scenario.File, opts harness.Options) ([]*harness.Result, error) {
	r, err := harness.Run(ctx, sc, opts)
	if err != nil {
		return nil, err
	}
	return []*harness.Result{r}, nil
}

// dockerUsable says why the Docker fleet cannot be used; nil: it can.
func dockerUsable(ctx context.Context) error {
	if dockerFactory == nil || dockerAvailable == nil {
		return errors.New("the Docker fleet is not compiled in")
	}
	if err := dockerAvailable(ctx); err != nil {
		return fmt.Errorf("the Docker engine does not answer (%w)", err)
	}
	return nil
}

// scenarioFiles expands directories into their *.yaml files, sorted.
func scenarioFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(a, pat))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml scenario files", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// printSummary prints one row per scale set, or per region beyond
// reports.MaxListedSets sets (reports.SummaryRows).
func printSummary(w io.Writer, results []*harness.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFLEET\tSET\tSTATUS\tBATCHES\tUPGRADED\tFAILED\tROLLED BACK\tEXPECT\tSCENARIO TIME\tWALL")
	passed := 0
	for _, r := range results {
		if r.OK {
			passed++
		}
		for i, row := range reports.SummaryRows(r) {
			name, fleet, st, wall := r.Scenario, r.Fleet, r.ScenarioDuration, r.WallDuration
			if i > 0 {
				name, fleet, st, wall = "", "", "", ""
			}
			set := row.Set
			if row.Sets > 1 {
				set = fmt.Sprintf("phase %s: %s", phaseText(row.Phase), row.Set)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", name, fleet, set, row.Status, row.Batches, row.Upgraded, row.Failed, row.RolledBack, expectMark(r, row), st, wall)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d passed, %d failed\n", passed, len(results)-passed)
	for _, r := range results {
		for _, e := range r.Expectations {
			if !e.OK {
				fmt.Fprintf(w, "✗ %s %s: %s expected %s, got %s\n", r.Scenario, e.ScaleSet, e.Field, e.Expected, e.Got)
			}
		}
		if r.Error != "" {
			fmt.Fprintf(w, "✗ %s: %s\n", r.Scenario, r.Error)
		}
		for _, m := range r.Mismatches {
			fmt.Fprintf(w, "✗ %s: %s and %s differ: %s\n", r.Scenario, r.ComparedWith, r.Fleet, m)
		}
		for _, inv := range r.Invariants {
			if !inv.OK {
				fmt.Fprintf(w, "✗ %s invariant %s violated: %s\n", r.Scenario, inv.ID, inv.Detail)
			}
		}
	}
}

func expectMark(r *harness.Result, row reports.SetRow) string {
	n, bad := row.ExpectTotal, row.ExpectTotal-row.ExpectHeld
	switch {
	case r.Error != "":
		return "✗ error"
	case n == 0:
		return "-"
	case bad == 0:
		return fmt.Sprintf("✓ %d", n)
	}
	return fmt.Sprintf("✗ %d/%d", bad, n)
}

// phaseText is a region phase, "?" when the result does not say.
func phaseText(p int) string {
	if p == 0 {
		return "?"
	}
	return fmt.Sprint(p)
}
