package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/osupgrade/osupgrade/bench"
)

// Bench file names in the output directory.
const (
	BenchJSON     = "bench.json"
	BenchMarkdown = "bench.md"
	BenchHTML     = "bench.html"
)

// WriteBench writes bench.json, bench.md and bench.html for r into dir.
func WriteBench(dir string, r *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, BenchJSON), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	WriteBenchMarkdown(&md, r)
	if err := os.WriteFile(filepath.Join(dir, BenchMarkdown), md.Bytes(), 0o644); err != nil {
		return err
	}
	var h bytes.Buffer
	if err := WriteBenchHTML(&h, r); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, BenchHTML), h.Bytes(), 0o644)
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func ci(s bench.Summary, format string) string {
	return fmt.Sprintf(format+" ["+format+", "+format+"]", s.Mean, s.CILo, s.CIHi)
}

// WriteBenchMarkdown writes the report as a CI job summary.
func WriteBenchMarkdown(w io.Writer, r *bench.Report) {
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "# osupgrade benchmarks (%s)\n\n", mode)
	fmt.Fprintf(w, "%s · %s/%s · %d CPUs (%s)", r.Env.GoVersion, r.Env.OS, r.Env.Arch, r.Env.CPUs, r.Env.CPUModel)
	if r.Env.Docker != "" {
		fmt.Fprintf(w, " · Docker %s", r.Env.Docker)
	}
	fmt.Fprintf(w, " · started %s · load average %.1f at the start, %.1f at the end\n\n", r.Started.Format("2006-01-02 15:04:05 MST"), r.Env.LoadStart, r.Env.LoadEnd)
	if r.Env.LoadStart > float64(r.Env.CPUs) || r.Env.LoadEnd > float64(r.Env.CPUs) {
		fmt.Fprintf(w, "**The machine was busy (load above its %d CPUs): wall times are inflated and noisy.**\n\n", r.Env.CPUs)
	}
	if r.Interrupted != "" {
		fmt.Fprintf(w, "**Partial run: %s.**\n\n", r.Interrupted)
	}
	fmt.Fprintf(w, "Means with 95%% confidence intervals (Student t) in brackets. p50/p95: %s.\n\n", r.QuantileDefinition)
	if len(r.Targets) > 0 {
		fmt.Fprint(w, "## Targets\n\n| | target | want | measured |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", mark(t.Met), t.Name, t.Want, t.Got)
		}
		fmt.Fprintln(w)
	}
	if c := r.Baseline; c != nil {
		fmt.Fprintf(w, "## Against the baseline (%s)\n\n", c.BaselineStarted.Format("2006-01-02"))
		if c.Regressions == 0 {
			fmt.Fprint(w, "No regression: every confidence interval judged overlaps the baseline's or is better.\n\n")
		} else {
			fmt.Fprintf(w, "**%d regression(s)**: confidence intervals above the baseline's, not overlapping.\n\n", c.Regressions)
		}
		fmt.Fprintf(w, "Docker wall times follow the engine's speed, which differs between machines and days; they are shown, and our cost on Docker is judged by ours ÷ limit and ours ÷ Swarm, measured in the same turns, when the engine's recreate (the limit) took as long as in the baseline (overlapping intervals): the ratios move with the engine's speed too. Times per instance or decision are judged only against a baseline from the same CPU model and count (this run: %s × %d; the baseline: %s × %d). A quantity with fewer than 2 samples on either side has no interval and is not judged.\n\n", r.Env.CPUModel, r.Env.CPUs, c.BaselineEnv.CPUModel, c.BaselineEnv.CPUs)
		fmt.Fprint(w, "| case | quantity | now | baseline | change | verdict |\n|---|---|---|---|---|---|\n")
		for _, d := range c.Deltas {
			v := string(d.Verdict)
			if d.Verdict == bench.Regression {
				v = "**regression**"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %+.1f%% | %s |\n", d.Key, d.Quantity, ci(d.Current, "%.4g"), ci(d.Baseline, "%.4g"), 100*d.Change, v)
		}
		fmt.Fprintln(w)
	}
	if len(r.Sim) > 0 {
		fmt.Fprint(w, "## Simulated rollouts\n\nWhole rollouts on the simulated fleet (world building and result included), 3 zones × 5 update domains, 30 s boot, 5 s health confirmation.\n\n")
		fmt.Fprint(w, "| mix | N | reps | wall s | p50 / p95 s | CPU s | ns/instance | instances/s | B/instance | makespan | lower bound | ÷ bound | status |\n|---|---:|---:|---|---|---|---|---|---|---:|---:|---:|---|\n")
		for _, c := range r.Sim {
			fmt.Fprintf(w, "| %s | %d | %d | %s | %.4g / %.4g | %s | %s | %s | %s | %s | %d × %s = %s | %.2f | %s (%d failed) |\n",
				c.Mix, c.N, c.Reps, ci(c.Wall, "%.4g"), c.Wall.P50, c.Wall.P95, ci(c.CPU, "%.4g"), ci(c.NsPerInstance, "%.0f"), ci(c.InstancesPerSec, "%.3g"), ci(c.BytesPerInstance, "%.0f"),
				secs(c.Makespan), c.Bound.Batches, c.Bound.PerBatch, c.Bound.Total, c.MakespanRatio, c.Status, c.Failed)
		}
		fmt.Fprintln(w)
	}
	if len(r.Fleet) > 0 {
		fmt.Fprint(w, "## Fleet: one platform version over many scale sets\n\nSets round-robin over 30 regions (3 zones each), one version published at 0s and rolled out by the platform (R-TRIG-2 windows, R-AVAIL-2 phases). Rolling: per region phase the longest rollout of its sets, summed; total: publication to the last rollout's end (the schedule's waits included). Bound: per phase the slowest set's batches; region bound: per phase the slowest region's sum over zones of the slowest set's batches in that zone (R-AVAIL-1 across a region). Both bounds are the bench's own arithmetic.\n\n")
		fmt.Fprint(w, "| mix | sets | per set | reps | wall s | CPU s | B/instance | total | rolling | bound | ÷ bound | region bound | ÷ region bound | completed |\n|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range r.Fleet {
			fmt.Fprintf(w, "| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %.2f | %s | %.2f | %d |\n",
				c.Mix, c.Sets, c.Instances, c.Reps, ci(c.Wall, "%.4g"), ci(c.CPU, "%.4g"), ci(c.BytesPerInstance, "%.0f"),
				c.Makespan.Total, c.Makespan.Rolling, c.Makespan.Bound, c.Ratio, c.Makespan.RegionBound, c.RegionRatio, c.Completed)
		}
		fmt.Fprintln(w)
	}
	if c := r.Serve; c != nil {
		fmt.Fprintf(w, "## serve under a fleet\n\n%d sets × %d instances on the sim, all rolling (a manual trigger each); a Go client on loopback, %d connections, %.0f GETs/s; %d of each GET in %.1f s (set-up %.1f s); %d errors; rollingUpgrades/latest answered %v. Latency in ms: mean [95%% CI]; p50 and p99 with distribution-free 95%% intervals.\n\n",
			c.Sets, c.Instances, c.Clients, c.Rate, c.Requests, c.Measured, c.Setup, c.Errors, c.Statuses)
		for _, k := range slices.Sorted(maps.Keys(c.ErrorKinds)) {
			fmt.Fprintf(w, "- %d × %s\n", c.ErrorKinds[k], k)
		}
		if len(c.ErrorKinds) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprint(w, "| GET | n | mean ms | p50 ms | p99 ms | max ms |\n|---|---:|---|---|---|---:|\n")
		for _, q := range []struct {
			name string
			s    bench.Summary
		}{{"scaleSet", c.ScaleSet}, {"rollingUpgradesLatest", c.Latest}} {
			p50, p99 := c.Quantile(q.name, 0.5), c.Quantile(q.name, 0.99)
			fmt.Fprintf(w, "| %s | %d | %s | %.3g [%.3g, %.3g] | %.3g [%.3g, %.3g] | %.3g |\n", q.name, q.s.N, ci(q.s, "%.3g"), p50.Value, p50.CILo, p50.CIHi, p99.Value, p99.CILo, p99.CIHi, q.s.Max)
		}
		fmt.Fprintln(w)
	}
	if len(r.Growth) > 0 {
		fmt.Fprint(w, "## Growth of cost with N\n\nLeast squares on log(wall) = a + k·log(N), N the instances (the fleet: the sets) (gonum stat.LinearRegression, R² from stat.RSquared).\n\n| quantity | exponent k | R² | points |\n|---|---:|---:|---:|\n")
		for _, g := range r.Growth {
			fmt.Fprintf(w, "| %s | %.3f | %.4f | %d |\n", g.Quantity, g.Exponent, g.R2, g.Points)
		}
		fmt.Fprintln(w)
	}
	if len(r.Planner) > 0 {
		fmt.Fprint(w, "## Planner alone\n\nPlanBatches over N instances, and the mean cost of one decision (Rollout.Next) in a planner-only rollout.\n\n| N | reps | PlanBatches ns/instance | decisions | ns/decision |\n|---:|---:|---|---:|---|\n")
		for _, p := range r.Planner {
			fmt.Fprintf(w, "| %d | %d | %s | %d | %s |\n", p.N, p.Reps, ci(p.PlanNsPerInstance, "%.1f"), p.Decisions, ci(p.DecisionNs, "%.4g"))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "## Docker\n\n")
	if len(r.Docker) == 0 {
		why := r.DockerSkipped
		if why == "" {
			why = r.Interrupted
		}
		fmt.Fprintf(w, "Not measured: %s\n\n", why)
	} else {
		fmt.Fprint(w, "Seconds per rollout of all N containers, the three ways measured alternately.\n\n| N | reps | ours s | engine limit s | Swarm s | ours ÷ limit | ours ÷ Swarm |\n|---:|---:|---|---|---|---|---|\n")
		for _, c := range r.Docker {
			fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s |\n", c.N, c.Reps, sumOrDash(c.Ours), sumOrDash(c.Limit), sumOrDash(c.Swarm), ratioOrDash(c.OursLim), ratioOrDash(c.OursSwm))
		}
		fmt.Fprintln(w)
		for _, c := range r.Docker {
			fmt.Fprintf(w, "- N=%d: %s\n", c.N, c.Settings)
			if c.LowerBound.N > 0 {
				fmt.Fprintf(w, "  - health-gated lower bound (limit + %.2f s of boots and health confirmations): %s; ours ÷ bound %s\n", c.HealthGate, sumOrDash(c.LowerBound), ratioOrDash(c.OursBound))
			}
			for _, s := range c.Skipped {
				fmt.Fprintf(w, "  - not measured: %s\n", s)
			}
			if c.Stopped != "" {
				fmt.Fprintf(w, "  - stopped after %s\n", c.Stopped)
			}
		}
		if r.DockerNotRun != "" {
			fmt.Fprintf(w, "- not measured: %s\n", r.DockerNotRun)
		}
		fmt.Fprintln(w)
	}
}

func secs(s float64) string { return fmt.Sprintf("%gs", s) }

func sumOrDash(s bench.Summary) string {
	if s.N == 0 {
		return "–"
	}
	return ci(s, "%.3g")
}

func ratioOrDash(r *bench.Ratio) string {
	if r == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f [%.2f, %.2f]", r.Ratio, r.CILo, r.CIHi)
}

// benchCharts are the SVG charts of a report.
func benchCharts(r *bench.Report) (map[string]template.HTML, []string) {
	charts := map[string]template.HTML{}
	var problems []string
	var ss []series
	for _, mix := range bench.Mixes {
		s := series{name: "sim, mix=" + string(mix), dashed: mix != bench.FaultFree}
		for _, c := range r.Sim {
			if c.Mix == mix {
				s.x = append(s.x, float64(c.N))
				s.y = append(s.y, c.InstancesPerSec.Mean)
				s.lo = append(s.lo, c.InstancesPerSec.CILo)
				s.hi = append(s.hi, c.InstancesPerSec.CIHi)
			}
		}
		if len(s.x) > 0 {
			ss = append(ss, s)
		}
	}
	for _, way := range []string{"ours", "limit", "swarm"} {
		s := series{name: "docker, " + map[string]string{"ours": "ours", "limit": "engine limit", "swarm": "Swarm"}[way]}
		for _, c := range r.Docker {
			sum := map[string]bench.Summary{"ours": c.Ours, "limit": c.Limit, "swarm": c.Swarm}[way]
			if sum.N == 0 || sum.Mean <= 0 {
				continue
			}
			n := float64(c.N)
			s.x = append(s.x, n)
			s.y = append(s.y, n/sum.Mean)
			// Throughput's interval from the time's: n/hi .. n/lo.
			lo := n / sum.CIHi
			hi := n / sum.CILo
			if sum.CILo <= 0 {
				hi = n / sum.Min
			}
			s.lo, s.hi = append(s.lo, lo), append(s.hi, hi)
		}
		if len(s.x) > 0 {
			ss = append(ss, s)
		}
	}
	if len(ss) > 0 {
		if svg, err := logLogChart("Rollout throughput vs fleet size", "instances (N)", "instances upgraded per wall second", ss); err != nil {
			problems = append(problems, err.Error())
		} else {
			charts["throughput"] = template.HTML(svg)
		}
	}
	var bars []bar
	for _, c := range r.Docker {
		if c.OursLim != nil {
			bars = append(bars, bar{category: fmt.Sprintf("N=%d", c.N), v: c.OursLim.Ratio, lo: c.OursLim.CILo, hi: c.OursLim.CIHi, group: 0})
		}
		if c.OursSwm != nil {
			bars = append(bars, bar{category: fmt.Sprintf("N=%d", c.N), v: c.OursSwm.Ratio, lo: c.OursSwm.CILo, hi: c.OursSwm.CIHi, group: 1})
		}
	}
	if len(bars) > 0 {
		svg, err := barChart("Our rollout time ÷ the peers' (lower is better)", "time ratio", []string{"ours ÷ engine limit", "ours ÷ Swarm"}, bars,
			[]refLine{{"target ÷ limit ≤ 1.25", 1.25}, {"target ÷ Swarm ≤ 0.5", 0.5}})
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			charts["ratios"] = template.HTML(svg)
		}
	}
	return charts, problems
}

var benchPage = template.Must(template.New("bench").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>osupgrade benchmarks</title>
<style>` + pageCSS + `
{{.FontCSS}}</style></head>
<body>
<article class="md">{{.Markdown}}</article>
{{range .Problems}}<p class="bad">chart: {{.}}</p>{{end}}
<section class="charts"><h2>Charts</h2>
{{with index .Charts "throughput"}}<figure id="throughput">{{.}}<figcaption>Throughput (instances per wall second, log–log) with 95% confidence intervals: simulated rollouts and Docker.</figcaption></figure>{{end}}
{{with index .Charts "ratios"}}<figure id="ratios">{{.}}<figcaption>Our Docker rollout time divided by the engine's limit and by Swarm's, geometric means of alternating pairs with 95% confidence intervals.</figcaption></figure>{{end}}
</section>
</body></html>
`))

// WriteBenchHTML writes the report as one self-contained HTML page.
func WriteBenchHTML(w io.Writer, r *bench.Report) error {
	charts, problems := benchCharts(r)
	var md bytes.Buffer
	WriteBenchMarkdown(&md, r)
	return benchPage.Execute(w, map[string]any{"Charts": charts, "Problems": problems, "Markdown": markdownHTML(md.String()), "FontCSS": template.CSS(chartFontCSS)})
}

// markdownHTML renders the small Markdown subset our reports write:
// headings, tables, bullet lists and paragraphs, with **bold**.
func markdownHTML(md string) template.HTML {
	var b strings.Builder
	lines := strings.Split(md, "\n")
	esc := func(s string) string {
		s = template.HTMLEscapeString(s)
		for strings.Count(s, "**") >= 2 {
			s = strings.Replace(s, "**", "<strong>", 1)
			s = strings.Replace(s, "**", "</strong>", 1)
		}
		return s
	}
	cells := func(l string) []string {
		l = strings.TrimSpace(l)
		l = strings.TrimPrefix(strings.TrimSuffix(l, "|"), "|")
		return strings.Split(l, "|")
	}
	inList := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if inList && !strings.HasPrefix(strings.TrimSpace(l), "- ") {
			b.WriteString("</ul>\n")
			inList = false
		}
		switch {
		case strings.HasPrefix(l, "#"):
			level := len(l) - len(strings.TrimLeft(l, "#"))
			fmt.Fprintf(&b, "<h%d>%s</h%d>\n", level+1, esc(strings.TrimSpace(l[level:])), level+1)
		case strings.HasPrefix(l, "|"):
			b.WriteString("<table>\n<thead><tr>")
			for _, c := range cells(l) {
				fmt.Fprintf(&b, "<th>%s</th>", esc(strings.TrimSpace(c)))
			}
			b.WriteString("</tr></thead>\n<tbody>\n")
			i++ // the separator row
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|") {
				i++
				b.WriteString("<tr>")
				for _, c := range cells(lines[i]) {
					fmt.Fprintf(&b, "<td>%s</td>", esc(strings.TrimSpace(c)))
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</tbody></table>\n")
		case strings.HasPrefix(strings.TrimSpace(l), "- "):
			if !inList {
				b.WriteString("<ul>\n")
				inList = true
			}
			fmt.Fprintf(&b, "<li>%s</li>\n", esc(strings.TrimPrefix(strings.TrimSpace(l), "- ")))
		case strings.TrimSpace(l) == "":
		default:
			fmt.Fprintf(&b, "<p>%s</p>\n", esc(l))
		}
	}
	if inList {
		b.WriteString("</ul>\n")
	}
	return template.HTML(b.String())
}

const pageCSS = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f2f2f2}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#555}
.bad{color:#b00020}.ok{color:#006d2c}code{background:#f4f4f4;padding:0 .2rem}`
