package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// userFeature is a user's own scenario, in the repository's vocabulary:
// short enough on the scenario clock for containers too.
const userFeature = `Feature: our web tier upgrades
  @smoke
  Scenario: five instances take the new image
    Given a scale set of 5 instances
    And automatic OS upgrades are off
    And a new image version is published at 0s
    And the user starts an OS upgrade at 1m
    When the scenario runs
    Then the rollout completes
    And all instances run the new version
    And 5 batches ran
`

// osupgrade features: 0 when every scenario passes, 1 when a step fails or
// is undefined (with godog's snippet), 2 on bad usage or a file that does
// not parse (with its line); reports where --format and --out say.
func TestFeaturesCommand(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.feature", userFeature)
	undefined := write(t, dir, "undefined.feature", userFeature+"    And every instance sings\n")
	failing := write(t, dir, "failing.feature", strings.Replace(userFeature, "5 batches ran", "4 batches ran", 1))
	broken := write(t, dir, "broken.feature", "Feature: x\n  Scenario: y\n    Given a scale set of 5 instances\n  this is not Gherkin\n")
	goodDir := filepath.Join(dir, "suite")
	if err := os.Mkdir(goodDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, goodDir, "a.feature", userFeature)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"passing", []string{"features", good}, 0, []string{"1 scenarios (1 passed)", "Then the rollout completes"}, ""},
		{"directory, flags after the path", []string{"features", goodDir, "--fleet", "sim"}, 0, []string{"1 scenarios (1 passed)"}, ""},
		{"undefined step", []string{"features", undefined}, 1, []string{"1 undefined", "func everyInstanceSings() error", "ctx.Step(`^every instance sings$`"}, `no step of the vocabulary matches ["every instance sings"]`},
		{"failing step", []string{"features", failing}, 1, []string{"1 scenarios (1 failed)", "5 batches ran, want 4"}, ""},
		{"parse error", []string{"features", broken}, 2, nil, "broken.feature:4:3: expected:"},
		{"missing path", []string{"features", filepath.Join(dir, "nope")}, 2, nil, "is not available"},
		{"tags select nothing", []string{"features", "--tags", "@nightly", good}, 2, nil, "matches --tags @nightly"},
		{"tags select", []string{"features", "--tags", "@smoke", good}, 0, []string{"1 scenarios (1 passed)"}, ""},
		{"two formats on stdout", []string{"features", "--format", "junit,cucumber", good}, 2, nil, "give --out DIR"},
		{"unknown format", []string{"features", "--format", "html", good}, 2, nil, `--format "html"`},
		{"bad fleet", []string{"features", "--fleet", "vmware", good}, 2, nil, `--fleet is "vmware"`},
		{"steps", []string{"features", "--steps"}, 0, []string{"# scale sets\n^a scale set(?: \"([^\"]+)\")? of (\\d+) instances?$\n    declares a scale set", "^invariant (I-\\d) holds$"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), c.args, &out, &errb)
			if code != c.code || !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			for _, s := range c.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

// --out receives the junit and cucumber reports; stdout keeps godog's
// progress summary.
func TestFeaturesReports(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.feature", userFeature)
	out := filepath.Join(dir, "reports")
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"features", "--format", "junit,cucumber", "--out", out, good}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for file, want := range map[string]string{
		"features.junit.xml":     `<testcase name="five instances take the new image" classname=`,
		"features.cucumber.json": `"name": "five instances take the new image"`,
	} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s:\n%s", file, want, b)
		}
	}
	if !strings.Contains(stdout.String(), "1 scenarios (1 passed)") {
		t.Errorf("stdout has no summary:\n%s", stdout.String())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "features.junit.xml")); strings.Contains(string(b), "<failure") {
		t.Errorf("a passing run's JUnit has a failure:\n%s", b)
	}
}

// A failing scenario is a failure in the JUnit, on stdout too (godog
// v0.16's own junit marked it passed with a failure inside).
func TestFeaturesJUnitMarksAFailure(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, dir, "bad.feature", strings.Replace(userFeature, "5 batches ran", "4 batches ran", 1))
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"features", "--format", "junit", bad}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `failures="1"`) || !strings.Contains(stdout.String(), "<failure") {
		t.Errorf("stdout's JUnit does not count the failure:\n%s", stdout.String())
	}
}
