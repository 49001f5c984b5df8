package reports

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/harness"
)

// sampleRunResults are a run of three scenarios: the faulty sample (which
// passes), one with two scale sets whose expectation and invariant fail,
// and one that could not run.
func sampleRunResults(t *testing.T) []*harness.Result {
	t.Helper()
	ok, _ := sampleRun(t)
	ok.File = "scenarios/report-sample.yaml"
	ok.WallStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok.WallDuration = "1.234567s"
	two := &harness.Result{Scenario: "two sets #2", File: "scenarios/two.yaml", Fleet: "docker", WallDuration: "2m3.5s", WallStart: ok.WallStart.Add(time.Minute),
		ScaleSets: []harness.SetResult{
			{Name: "web", Status: "Completed", Batches: []harness.BatchResult{{Attempt: 1, Index: 1}, {Attempt: 1, Index: 2}}},
			{Name: "api", Status: "Faulted", ErrorCode: "HealthCheckFailed", Batches: []harness.BatchResult{{Attempt: 1, Index: 1}, {Attempt: 2, Index: 1}}},
		},
		Expectations: []harness.Expectation{{ScaleSet: "web", Field: "status", OK: true}, {ScaleSet: "api", Field: "status", OK: false}, {Field: "timeline", OK: true}},
		Invariants:   []harness.Invariant{{ID: "I-1", OK: true}, {ID: "I-2", OK: false, Detail: "a batch started above the gate"}},
	}
	broken := &harness.Result{Scenario: "broken", File: "scenarios/broken.yaml", Fleet: "docker", Error: "the engine went away\nstack"}
	return []*harness.Result{ok, two, broken}
}

func TestRunIndex(t *testing.T) {
	dir := t.TempDir()
	if err := WriteRunIndex(dir, sampleRunResults(t)); err != nil {
		t.Fatal(err)
	}
	md := read(t, filepath.Join(dir, IndexMarkdown))
	for _, want := range []string{
		"# osupgrade run — ✗ 2 failed, 1 passed",
		"3 scenarios, 3 scale sets · expectations 3/4 held · invariants 8 held, 1 broken · fleet docker, sim · wall 2m4.7s (sum) · started 2026-03-01 12:00:00 UTC",
		"| ✓ | report-sample | sim | web | Completed |",
		"| 1.2s | [report-sample.html](report-sample.html) |",
		"| ✗ | two sets #2 | docker | web | Completed | 2 | 2/2 | 1 / 1 | 2m3.5s | [two%20sets%20%232.html](two%20sets%20%232.html) |",
		"| | | | api | Faulted (HealthCheckFailed) | 1 | 1/2 | | | [timeline](two%20sets%20%232.html#timeline-api) |",
		"| ✗ | broken | docker | – | no scale set | 0 | 0/0 | 0 / 0 | – |",
		"## Errors\n\n- broken: the engine went away\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	html := read(t, filepath.Join(dir, IndexHTML))
	for _, want := range []string{
		`<a href="report-sample.html">report-sample</a><span class="file">scenarios/report-sample.yaml</span>`,
		`<a href="two%20sets%20%232.html#timeline-api">api</a>`,
		`<td class="n bad">1/2</td>`,
		`rowspan="2"`,
		`error: the engine went away`,
		`<a href="junit.xml">junit.xml</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	x := read(t, filepath.Join(dir, IndexJUnit))
	for _, want := range []string{`<testsuites name="osupgrade run" tests="12" failures="2" errors="1"`, `<testsuite name="two sets #2"`, `file="scenarios/two.yaml"`, `timestamp="2026-03-01T12:01:00Z"`} {
		if !strings.Contains(x, want) {
			t.Errorf("junit.xml lacks %q", want)
		}
	}
}
