package reports

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"

	"github.com/osupgrade/osupgrade/bench"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// faultyScenario has two zones, a platform rollout (which rolls back), a
// fault at a time, a fault on an event, and an unhealthy instance that is
// rolled back: every mark a timeline draws.
const faultyScenario = `name: report-sample
seed: 3
scaleSets:
  - {name: web, instances: 100, zones: ["1", "2"], image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, fault: unhealthy, instances: [0], duration: 6h}
  - {on: "batch 2 started", fault: slow-boot, percent: 10, delay: 1m, duration: 10m}
expect: {status: Completed}
`

// sampleRun runs faultyScenario on the sim.
func sampleRun(t *testing.T) (*harness.Result, *scenario.File) {
	t.Helper()
	sc, err := scenario.Parse("report-sample.yaml", []byte(faultyScenario), harness.Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := harness.Run(context.Background(), sc, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r, sc
}

func TestRunReport(t *testing.T) {
	r, sc := sampleRun(t)
	dir := t.TempDir()
	if err := WriteRun(dir, r, sc); err != nil {
		t.Fatal(err)
	}
	html := read(t, filepath.Join(dir, "report-sample.html"))
	for _, want := range []string{`<svg`, `class="batch"`, `class="fault"`, `class="rollback"`, `class="healthy-share"`, `class="gate"`, "zone 1 · UD 0", "zone 2 · UD 0", "⚡ unhealthy", "⚡ slow-boot"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	md := read(t, filepath.Join(dir, "report-sample.md"))
	for _, want := range []string{"# report-sample — ✓ passed", "seed 3", "| web | Completed |", "## Expectations", "| unhealthy | at 0s | 0s | 6h0m0s |", "on batch 2 started"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// The saved model renders again to the same pages.
	run, err := LoadRun(filepath.Join(dir, "report-sample.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteRunHTML(&again, run); err != nil {
		t.Fatal(err)
	}
	if again.String() != html {
		t.Error("the page rendered from report-sample.report.json differs from the first rendering")
	}
	if len(run.Faults) != 2 || !run.Faults[1].Fired || run.Faults[1].At <= 0 {
		t.Errorf("faults %+v", run.Faults)
	}
}

func TestLoadRunBareResult(t *testing.T) {
	r, _ := sampleRun(t)
	dir := t.TempDir()
	b, err := jsonIndent(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report-sample.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run, err := LoadRun(path)
	if err != nil {
		t.Fatal(err)
	}
	if run.Result.Scenario != "report-sample" || len(run.Faults) != 0 {
		t.Errorf("loaded %+v", run)
	}
	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"x": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRun(other); err == nil {
		t.Error("a JSON file that is not a result loaded as a run")
	}
}

func TestDerivedHealth(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	s := harness.SetResult{
		Versions: map[string]int{"2": 8, "1": 2},
		Batches: []harness.BatchResult{
			{Attempt: 1, Index: 1, Size: 2, Instances: []string{"0", "1"}, StartTime: ts(0), EndTime: ts(time.Minute)},
			{Attempt: 1, Index: 2, Size: 2, Instances: []string{"2", "3"}, StartTime: ts(time.Minute), EndTime: ts(2 * time.Minute)},
		},
		Instances: []harness.InstanceResult{{ID: "0", Health: "Healthy"}, {ID: "1", Health: "Unhealthy", RolledBack: true}, {ID: "2", Health: "Healthy"}, {ID: "3", Health: "Healthy"}},
	}
	pts := derivedHealth(s, t0.Add(3*time.Minute))
	want := []struct {
		set, upg float64
		has      bool
	}{{80, 0, false}, {70, 50, true}, {90, 25, true}, {90, 25, true}}
	if len(pts) != len(want) {
		t.Fatalf("points %+v", pts)
	}
	for i, w := range want {
		if pts[i].setShare != w.set || pts[i].upgShare != w.upg || pts[i].hasUpgrad != w.has {
			t.Errorf("point %d = %+v, want %+v", i, pts[i], w)
		}
	}
}

// sampleBench is a bench report with every section filled.
func sampleBench() *bench.Report {
	s := func(xs ...float64) bench.Summary { return bench.Summarize("s", xs) }
	r := &bench.Report{Schema: bench.ReportSchema, QuantileDefinition: bench.QuantileDefinition, Env: bench.Env{GoVersion: "go", OS: "linux", Arch: "amd64", CPUs: 2}}
	for i, n := range []int{1000, 10000, 100000} {
		f := float64(i + 1)
		r.Sim = append(r.Sim, bench.SimCase{Mix: bench.FaultFree, N: n, Reps: 3, Wall: s(f, f+0.1, f+0.2), NsPerInstance: s(800, 810, 820), InstancesPerSec: s(1e6*f, 1.1e6*f, 1.2e6*f), BytesPerInstance: s(400, 400, 400), MakespanRatio: 1, Status: "Completed"})
	}
	r.Growth = []bench.Growth{{Quantity: "sim wall time, mix=none", Exponent: 1.01, R2: 0.999, Points: 3}}
	ratio := &bench.Ratio{Of: "ours", To: "limit", N: 5, Ratio: 1.1, CILo: 1.05, CIHi: 1.15}
	r.Docker = []bench.DockerCase{{N: 50, Reps: 5, Ours: s(10, 11, 12, 10, 11), Limit: s(9, 10, 10, 9, 10), Swarm: s(30, 31, 32, 30, 31), OursLim: ratio, OursSwm: &bench.Ratio{Of: "ours", To: "swarm", N: 5, Ratio: 0.35, CILo: 0.33, CIHi: 0.37}, Settings: "concurrency 8"}}
	r.Targets = []bench.Target{{Name: "t", Want: "≤ 1", Got: "0.9", Met: true}}
	r.Baseline = r.CompareWith(r)
	return r
}

func TestBenchReport(t *testing.T) {
	r := sampleBench()
	dir := t.TempDir()
	if err := WriteBench(dir, r); err != nil {
		t.Fatal(err)
	}
	html := read(t, filepath.Join(dir, BenchHTML))
	for _, want := range []string{`id="throughput"`, `id="ratios"`, "<svg", "No regression"} {
		if !strings.Contains(html, want) {
			t.Errorf("bench.html lacks %q", want)
		}
	}
	if strings.Contains(html, `class="bad"`) {
		t.Error("bench.html reports a chart problem")
	}
	md := read(t, filepath.Join(dir, BenchMarkdown))
	for _, want := range []string{"## Targets", "## Simulated rollouts", "## Docker", "1.10 [1.05, 1.15]", "Hyndman–Fan type 1"} {
		if !strings.Contains(md, want) {
			t.Errorf("bench.md lacks %q", want)
		}
	}
	back, err := bench.LoadReport(filepath.Join(dir, BenchJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Sim) != 3 || back.Docker[0].OursSwm.Ratio != 0.35 {
		t.Errorf("bench.json round trip: %+v", back)
	}
}

// A partial run says so at the top, and each short case says why.
func TestBenchReportPartial(t *testing.T) {
	r := sampleBench()
	r.Interrupted = "interrupted during docker N=200 (context canceled)"
	r.Docker[0].Stopped = "2 of 5 turns: interrupted"
	r.DockerNotRun = "the Docker budget (--docker-within 1h0m0s) was spent before N=400"
	var b strings.Builder
	WriteBenchMarkdown(&b, r)
	for _, want := range []string{"**Partial run: interrupted during docker N=200", "stopped after 2 of 5 turns: interrupted", "not measured: the Docker budget"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("bench.md lacks %q:\n%s", want, b.String())
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Fault labels never run into each other: faults close together stack in
// rows, faults far apart share one, and near the right edge a label ends
// at its line.
func TestPlaceFaultLabels(t *testing.T) {
	mk := func(xs ...float64) ([]FaultMark, func(FaultMark) float64) {
		fs := make([]FaultMark, len(xs))
		at := map[string]float64{}
		for i, x := range xs {
			fs[i] = FaultMark{Fault: "engine-error", Target: string(rune('a' + i))}
			at[fs[i].Target] = x
		}
		return fs, func(f FaultMark) float64 { return at[f.Target] }
	}
	tests := []struct {
		name    string
		xs      []float64
		rows    []int
		anchors []string
		nrows   int
	}{
		{"same place", []float64{200, 200, 200}, []int{0, 1, 2}, []string{"start", "start", "start"}, 3},
		{"far apart", []float64{200, 500, 800}, []int{0, 0, 0}, []string{"start", "start", "start"}, 1},
		{"close, then far", []float64{230, 200, 700}, []int{1, 0, 0}, []string{"start", "start", "start"}, 2},
		{"at the right edge", []float64{1050}, []int{0}, []string{"end"}, 1},
		{"more than the rows", []float64{200, 200, 200, 200, 200, 200, 200, 200, 200}, []int{0, 1, 2, 3, 4, 5, 6, 7, -1}, nil, maxFaultRows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, xOf := mk(tt.xs...)
			labels, n := placeFaultLabels(fs, xOf)
			if n != tt.nrows {
				t.Errorf("%d rows, want %d", n, tt.nrows)
			}
			for i, l := range labels {
				if l.row != tt.rows[i] || (tt.anchors != nil && l.anchor != tt.anchors[i]) {
					t.Errorf("label %d: row %d anchor %s, want row %d", i, l.row, l.anchor, tt.rows[i])
				}
			}
		})
	}
}

func TestAxisTicks(t *testing.T) {
	labels := func(ts []plot.Tick) []string {
		var out []string
		for _, t := range ts {
			if t.Label != "" {
				out = append(out, t.Label)
			}
		}
		return out
	}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"log, 50 to 3×10^7", labels(powerTicks{}.Ticks(50, 3e7)), []string{"100", "1k", "10k", "100k", "1M", "10M"}},
		{"log, within a decade", labels(powerTicks{}.Ticks(1.5, 8)), []string{"2", "5"}},
		{"log, 0.5 to 20", labels(powerTicks{}.Ticks(0.5, 20)), []string{"1", "10"}},
		{"linear, 0 to 1.7", labels(stepTicks{}.Ticks(0, 1.7)), []string{"0", "0.2", "0.4", "0.6", "0.8", "1", "1.2", "1.4", "1.6"}},
		{"linear, 0 to 37", labels(stepTicks{}.Ticks(0, 37)), []string{"0", "5", "10", "15", "20", "25", "30", "35"}},
	}
	for _, tt := range tests {
		if strings.Join(tt.got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
