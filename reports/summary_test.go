package reports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator"
)

// bigResult is a synthetic result of n sets spread round-robin over
// regions (phase of region k: 1 + k%2), each with 100 instances, one
// expectation each; set 7 (westeurope with four regions) faulted, and its expectation failed.
func bigResult(n int, regions []string) *harness.Result {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &harness.Result{Scenario: "big", Fleet: "sim", Start: start, ScenarioDuration: "3h", WallDuration: "1s"}
	r.ScaleSets = make([]harness.SetResult, n)
	for i := range r.ScaleSets {
		s := &r.ScaleSets[i]
		k := i % len(regions)
		*s = harness.SetResult{Name: fmt.Sprintf("web-%d", i), Region: regions[k], Phase: 1 + k%2, Status: "Completed", Versions: map[string]int{"2.0.0": 100}, Rollouts: 1}
		h := orchestrator.UpgradeHistory{}
		h.Properties.Progress.SuccessfulInstanceCount = 100
		s.History = []orchestrator.UpgradeHistory{h}
		for b := range 5 {
			end := start.Add(time.Duration(i+b) * time.Minute)
			s.Batches = append(s.Batches, harness.BatchResult{Attempt: 1, Index: b + 1, Size: 20, StartTime: end.Add(-time.Minute).Format(time.RFC3339), EndTime: end.Format(time.RFC3339)})
		}
		ok := i != 7
		got := "Completed"
		if !ok {
			s.Status, s.ErrorCode, s.Versions = "Faulted", "RollingUpgradeTimeoutError", map[string]int{"1.0.0": 100}
			got = "Faulted"
		}
		r.Expectations = append(r.Expectations, harness.Expectation{ScaleSet: s.Name, Field: "status", OK: ok, Expected: "Completed", Got: got})
	}
	r.Expectations = append(r.Expectations, harness.Expectation{Field: "timeline", OK: true, Expected: "fired", Got: "fired"})
	return r
}

// Beyond MaxListedSets sets the tables have one row per region, in phase
// order, counting the sets by status; at or below it one row per set.
func TestSummaryRows(t *testing.T) {
	regions := []string{"eastus", "westus", "northeurope", "westeurope"}
	small := SummaryRows(bigResult(MaxListedSets, regions))
	if len(small) != MaxListedSets || small[7].Set != "web-7" || small[7].Status != "Faulted (RollingUpgradeTimeoutError)" || !small[7].Failing || small[7].ExpectTotal != 2 || small[7].ExpectHeld != 1 {
		t.Errorf("%d sets: %d rows, row 7 %+v", MaxListedSets, len(small), small[7])
	}

	r := bigResult(MaxListedSets+9, regions) // 59 sets: 15, 15, 15, 14
	rows := SummaryRows(r)
	var got []string
	for _, row := range rows {
		got = append(got, fmt.Sprintf("%d %s %s %d/%d %v %d %s", row.Phase, row.Set, row.Status, row.ExpectHeld, row.ExpectTotal, row.Failing, row.Upgraded, row.Timeline))
	}
	want := []string{
		// phase 1: regions 0 and 2 (eastus, northeurope); phase 2: westus, westeurope
		"1 eastus (15 sets) Completed 15 16/16 false 1500 web-56",
		"1 northeurope (15 sets) Completed 15 16/16 false 1500 web-58",
		"2 westeurope (14 sets) Completed 13, Faulted (RollingUpgradeTimeoutError) 1 14/15 true 1400 web-55",
		"2 westus (15 sets) Completed 15 16/16 false 1500 web-57",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var md bytes.Buffer
	WriteRunMarkdown(&md, &Run{Result: r})
	for _, want := range []string{
		"59 scale sets, one row per region",
		"| 1 | eastus (15 sets) | Completed 15 | 75 | 1500 | 0 | 0 | 2.0.0: 1500 |",
		"| ✗ | web-7 | status | Completed | Faulted |",
		"| ✓ | 59 more | | 59 held | 0 failed |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var page bytes.Buffer
	if err := WriteRunHTML(&page, &Run{Result: r}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), `<figure class="timeline"`); n != len(regions) {
		t.Errorf("%d timelines, want one per region (%d)", n, len(regions))
	}
	dir := t.TempDir()
	if err := WriteRunIndex(dir, []*harness.Result{r}); err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(filepath.Join(dir, IndexMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "| westeurope (14 sets) | Completed 13, Faulted (RollingUpgradeTimeoutError) 1 | 70 | 14/15 |") || strings.Contains(string(summary), "web-3 ") {
		t.Errorf("summary.md:\n%s", summary)
	}
}

// A scenario with count: and regions: runs, and its result carries each
// set's region and phase: what the tables group by.
func TestFleetRunRegionsAndPhases(t *testing.T) {
	const src = `name: fleet
seed: 2
scaleSets:
  - {name: web, count: 4, regions: [eastus, westus], instances: 2, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, fault: slow-boot, scaleSet: web, delay: 20s}
  - {on: "rollout started", fault: slow-boot, scaleSet: web-1, delay: 40s, duration: 1h}
  - {on: "rollout started", fault: slow-boot, scaleSet: web, delay: 10s, duration: 1h}
expect: {status: Completed}
`
	sc, err := scenario.Parse("fleet.yaml", []byte(src), harness.Vocabulary())
	if err != nil {
		t.Fatal(err)
	}
	r, err := harness.Run(context.Background(), sc, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.ScaleSets {
		got = append(got, fmt.Sprintf("%s %s %d %s", s.Name, s.Region, s.Phase, s.Status))
	}
	want := "web-0 eastus 1 Completed, web-1 westus 2 Completed, web-2 eastus 1 Completed, web-3 westus 2 Completed"
	if strings.Join(got, ", ") != want || !r.OK {
		t.Errorf("got %s (ok %v), want %s", strings.Join(got, ", "), r.OK, want)
	}
	// scaleSet: web-1 fires on web-1's event; scaleSet: web on the first of
	// the entry's sets to start (an eastus one: phase 1), acting on it.
	run := NewRun(r, sc)
	if len(run.Faults) != 3 || !run.Faults[1].Fired || run.Faults[1].Set != "web-1" || !run.Faults[2].Fired || run.Faults[2].Set != "web" {
		t.Errorf("faults %+v", run.Faults)
	}
	var first string
	for _, e := range r.Events {
		if e.Event == "rollout started" {
			first = e.Set
			break
		}
	}
	if first != "web-0" && first != "web-2" {
		t.Errorf("the first rollout was %s's, want an eastus set's", first)
	}
}

// BenchmarkReportFleet10000 is the cost of a 10,000-set run's tables and
// pages (the summary rows, NAME.md, NAME.html, summary.md and index.html):
// `go test ./reports -run '^$' -bench ReportFleet -benchmem`.
func BenchmarkReportFleet10000(b *testing.B) {
	r := bigResult(10_000, []string{"eastus", "westus", "northeurope", "westeurope", "japaneast", "japanwest"})
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		var md, page bytes.Buffer
		WriteRunMarkdown(&md, &Run{Result: r})
		if err := WriteRunHTML(&page, &Run{Result: r}); err != nil {
			b.Fatal(err)
		}
		if err := WriteRunIndex(dir, []*harness.Result{r}); err != nil {
			b.Fatal(err)
		}
	}
}
