package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/soak"
)

func init() {
	commands["soak"] = command{"mixed API load against serve --fleet sim on loopback: memory, goroutines and fds flat, no 5xx, rollouts as their twins", soakMain}
}

// soakServer is the command that runs serve for the soak: nil is this
// executable's `serve` (tests point it at their own binary).
var soakServer []string

// soakEnv is added to the soak server's environment.
var soakEnv []string

func soakMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("soak", stderr)
	duration := fs.Duration("duration", 10*time.Minute, "how long the load runs (rollouts in progress then finish)")
	out := fs.String("out", "reports/out", "directory for soak.json and the server's log serve.log")
	scale := fs.Float64("time-scale", 30, "the server's --time-scale: scenario seconds per wall second")
	seed := fs.Uint64("seed", 1, "the server's --seed; shifts which rollout cases each worker draws")
	every := fs.Duration("sample-every", 5*time.Second, "period of the RSS, goroutine and fd samples")
	rollouts := fs.Int("rollout-workers", 3, "loops of planned rollouts, each compared with its twin")
	churn := fs.Int("churn-workers", 2, "loops of create/patch/update/upgrade/cancel/delete (not compared)")
	reads := fs.Int("read-workers", 2, "loops of reads across every set")
	pause := fs.Duration("pause", 20*time.Millisecond, "each loop's sleep between two requests")
	warmup := fs.Float64("warmup", soak.DefaultRule.Warmup, "share of the samples not judged (start-up)")
	rel := fs.Float64("max-growth", soak.DefaultRule.Rel, "allowed growth of resident memory, goroutines and fds over the run, relative to the first measured quarter's median (plus a small absolute slack each)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: osupgrade soak [--duration 10m] [--out DIR] [flags]

Starts 'osupgrade serve --fleet sim' as a child process on 127.0.0.1 (an
ephemeral port, a temporary data directory, its own token and certificate)
and runs a bounded mixed load against it from loopback: planned rollouts
with faults, churn (create, PATCH, update, upgrade, cancel, manual upgrade,
delete), reads of everything, and /metrics every --sample-every. Then:

  - no request may get a 5xx or no answer;
  - the server's resident memory (VmRSS less state.db's mapped pages: the
    database grows with its journals by design; its size is reported),
    goroutines and open fds must be flat: after the first --warmup of the
    samples, the last quarter's median and the end of the least-squares
    line must stay within the first quarter's median × (1 + --max-growth)
    + a slack (8 MiB, 10 goroutines, 8 fds);
  - every planned rollout must end as its twin: the same requests replayed
    alone on a fresh in-process server on the virtual clock (status, error
    code, each instance's version and health).

Prints a summary, writes DIR/soak.json and DIR/serve.log. Exit status: 0 all
held, 1 a violation (each named), 2 usage or the server did not start.

`)
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected arguments %v", fs.Args()))
	}
	if *duration <= 0 {
		bad = append(bad, "--duration must be more than 0")
	}
	if *scale <= 0 {
		bad = append(bad, "--time-scale must be more than 0")
	}
	if *every <= 0 {
		bad = append(bad, "--sample-every must be more than 0")
	}
	if *rollouts < 1 || *churn < 0 || *reads < 0 {
		bad = append(bad, "--rollout-workers must be at least 1, --churn-workers and --read-workers at least 0")
	}
	if *pause < time.Millisecond {
		bad = append(bad, "--pause must be at least 1ms (the load is bounded by it)")
	}
	if *warmup < 0 || *warmup >= 1 || *rel < 0 {
		bad = append(bad, "--warmup must be in [0, 1) and --max-growth at least 0")
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(stderr, "osupgrade soak: %s\n", b)
		}
		return 2
	}
	rule := soak.DefaultRule
	rule.Warmup, rule.Rel = *warmup, *rel
	res, err := soak.Run(ctx, soak.Options{
		Duration: *duration, Out: *out, Server: soakServer, Env: soakEnv, TimeScale: *scale, Seed: *seed,
		SampleEvery: *every, RolloutWorkers: *rollouts, ChurnWorkers: *churn, ReadWorkers: *reads, Pause: *pause,
		Rule: rule, Progress: stderr,
	})
	if err != nil && res == nil {
		fmt.Fprintf(stderr, "osupgrade soak: %v\n", err)
		return 2
	}
	printSoak(stdout, res)
	fmt.Fprintf(stdout, "result: %s\n", filepath.Join(*out, "soak.json"))
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade soak: writing the result: %v\n", err)
		return 2
	}
	if !res.Pass {
		return 1
	}
	return 0
}

func printSoak(w io.Writer, r *soak.Result) {
	fmt.Fprintf(w, "soak: %s of load (%s wall in all), time scale %g, seed %d\n\n", r.Duration, r.Wall, r.TimeScale, r.Seed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "requests\tcount\tp50 ms\tp99 ms\tby status")
	for _, k := range append(r.Requests, r.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%s\n", k.Kind, k.Count, k.P50ms, k.P99ms, byStatus(k.ByStatus))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "resource\tfirst\tlast\tslope/min\tbaseline\tlast quarter\tbound\tflat")
	for _, f := range r.Resources {
		fm := func(v float64) string { return soak.FormatValue(v, f.Unit) }
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", f.Name, fm(f.First), fm(f.Last), fm(f.SlopePerMinute), fm(f.Baseline), fm(f.LastQuarter), fm(f.Bound), f.Flat)
	}
	tw.Flush()
	fmt.Fprintf(w, "not judged, first → last: %s\n", soak.RSSBreakdown(r.Samples))
	ro := r.Rollouts
	fmt.Fprintf(w, "\nrollouts: %d started, %d compared with their twins, %d equal; outcomes %v\n", ro.Started, ro.Compared, ro.Equal, ro.ByOutcome)
	fmt.Fprintf(w, "churn: %d cycles; statuses other than hoped for (not violations): %v\n", r.Churn.Cycles, r.Churn.Unexpected)
	fmt.Fprintf(w, "serve: %s\n", r.ServeExit)
	if r.Pass {
		fmt.Fprintln(w, "\nPASS")
		return
	}
	fmt.Fprintf(w, "\nFAIL: %d violations\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  %s\n", v)
	}
}

func byStatus(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
