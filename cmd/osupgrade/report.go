package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/osupgrade/osupgrade/bench"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/reports"
)

func init() {
	commands["report"] = command{"render HTML and Markdown reports again from saved JSON results", reportMain}
}

func reportMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("report", stderr)
	out := fs.String("out", "", "write the reports here (default: next to each JSON file)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: osupgrade report [--out DIR] DIR...\n\nRenders NAME.html and NAME.md for every saved run (NAME.report.json, or a bare\nresult NAME.json from `osupgrade run --out`), the run's index.html, summary.md\nand junit.xml over all of a directory's runs, and bench.md and bench.html from\nbench.json.\n\nExit status: 0 rendered, 1 a file could not be rendered, 2 usage.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "osupgrade report: name at least one directory of saved JSON results")
		return 2
	}
	code, rendered := 0, 0
	runs := map[string][]*harness.Result{} // each output directory's runs, for its index
	var dsts []string
	for _, dir := range fs.Args() {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(files) == 0 {
			fmt.Fprintf(stderr, "osupgrade report: %s: no JSON files\n", dir)
			code = max(code, 2)
			continue
		}
		sort.Strings(files)
		have := map[string]bool{}
		for _, f := range files {
			have[f] = true
		}
		for _, f := range files {
			if ctx.Err() != nil {
				return 1
			}
			dst := *out
			if dst == "" {
				dst = filepath.Dir(f)
			}
			base := filepath.Base(f)
			switch {
			case base == reports.BenchJSON:
				r, err := bench.LoadReport(f)
				if err == nil {
					err = reports.WriteBench(dst, r)
				}
				if err != nil {
					fmt.Fprintf(stderr, "osupgrade report: %v\n", err)
					code = 1
					continue
				}
			case !strings.HasSuffix(base, ".report.json") && have[strings.TrimSuffix(f, ".json")+".report.json"]:
				continue // the report model holds this result and its faults
			default:
				run, err := reports.LoadRun(f)
				if errors.Is(err, reports.ErrNotARun) {
					continue
				}
				if err == nil {
					err = reports.WriteRunReport(dst, run)
				}
				if err == nil {
					if runs[dst] == nil {
						dsts = append(dsts, dst)
					}
					runs[dst] = append(runs[dst], run.Result)
				}
				if err != nil {
					fmt.Fprintf(stderr, "osupgrade report: %v\n", err)
					code = 1
					continue
				}
			}
			rendered++
			fmt.Fprintf(stdout, "rendered %s\n", f)
		}
	}
	for _, dst := range dsts {
		// In the order they ran (the files are sorted by name).
		slices.SortStableFunc(runs[dst], func(a, b *harness.Result) int { return a.WallStart.Compare(b.WallStart) })
		if err := reports.WriteRunIndex(dst, runs[dst]); err != nil {
			fmt.Fprintf(stderr, "osupgrade report: run index: %v\n", err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "rendered %s\n", filepath.Join(dst, reports.IndexHTML))
	}
	if rendered == 0 && code == 0 {
		fmt.Fprintln(stderr, "osupgrade report: no run results or bench.json found")
		return 1
	}
	return code
}
