package features

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/reports/junit"
)

// junitFromResults wraps a scenario initializer so that every scenario's
// outcome is recorded through godog's hooks, and writes the features' JUnit
// from those outcomes into path when the test ends. godog's own junit
// format times a feature from the first to the last of its scenarios in
// file order, so in random order its suite times come out negative; here a
// suite's time is the sum of its scenarios' and each scenario is timed from
// its Before hook to its last After hook (teardown included).
func junitFromResults(t *testing.T, path string, inner func(*godog.ScenarioContext)) func(*godog.ScenarioContext) {
	c := &junitCollector{dir: "features", now: time.Now, read: os.ReadFile}
	t.Cleanup(func() {
		if err := c.write(path); err != nil {
			t.Errorf("features JUnit: %v", err)
		}
	})
	return c.wrap(inner)
}

// junitCollector gathers scenario outcomes; godog may run scenarios
// concurrently, hence the lock.
type junitCollector struct {
	dir  string                       // what feature URIs are relative to, as CI links files
	now  func() time.Time             // the wall clock
	read func(string) ([]byte, error) // reads a feature file by its URI

	mu       sync.Mutex
	outcomes []junit.Outcome
	features map[string]string // feature URI → the feature's name
}

func (c *junitCollector) wrap(inner func(*godog.ScenarioContext)) func(*godog.ScenarioContext) {
	return func(sc *godog.ScenarioContext) {
		// godog calls the initializer once per scenario: these belong to one.
		var started time.Time
		var firstBad *godog.Step
		// Before first, After last: the time covers the others' hooks, and
		// the error seen includes theirs.
		sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
			started = c.now()
			return ctx, nil
		})
		inner(sc)
		sc.StepContext().After(func(ctx context.Context, st *godog.Step, status godog.StepResultStatus, _ error) (context.Context, error) {
			if firstBad == nil && status != godog.StepPassed && status != godog.StepSkipped {
				firstBad = st
			}
			return ctx, nil
		})
		sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
			c.add(p, started, c.now(), firstBad, err)
			return ctx, nil
		})
	}
}

func (c *junitCollector) add(p *godog.Scenario, started, ended time.Time, bad *godog.Step, err error) {
	o := junit.Outcome{File: path.Join(c.dir, filepath.ToSlash(p.Uri)), Name: p.Name, Started: started, Duration: ended.Sub(started), Status: junit.Passed}
	if err != nil {
		step := ""
		if bad != nil {
			step = "Step " + bad.Text + ": "
		}
		o.Message, o.Detail = step+err.Error(), step+err.Error()
		switch {
		case errors.Is(err, godog.ErrSkip):
			o.Status = junit.Skip
		case errors.Is(err, godog.ErrUndefined):
			o.Status, o.Type = junit.Error, "undefined"
		case errors.Is(err, godog.ErrPending):
			o.Status, o.Type = junit.Error, "pending"
		case errors.Is(err, godog.ErrAmbiguous):
			o.Status, o.Type = junit.Error, "ambiguous"
		default:
			o.Status, o.Type = junit.Failed, "step"
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o.Suite = c.featureName(p.Uri)
	o.Class = o.Suite
	c.outcomes = append(c.outcomes, o)
}

// featureName is the Feature: line of the file at uri, or the file's name.
func (c *junitCollector) featureName(uri string) string {
	if n, ok := c.features[uri]; ok {
		return n
	}
	if c.features == nil {
		c.features = map[string]string{}
	}
	name := strings.TrimSuffix(filepath.Base(uri), ".feature")
	if b, err := c.read(uri); err == nil {
		for l := range strings.Lines(string(b)) {
			if n, ok := strings.CutPrefix(strings.TrimSpace(l), "Feature:"); ok {
				name = strings.TrimSpace(n)
				break
			}
		}
	}
	c.features[uri] = name
	return name
}

// outcomesByFile are the outcomes grouped by feature file (in name order),
// each file's in the order they ran; a name twice in a file (an outline's
// examples) is numbered, as godog does.
func (c *junitCollector) outcomesByFile() []junit.Outcome {
	c.mu.Lock()
	out := slices.Clone(c.outcomes)
	c.mu.Unlock()
	slices.SortStableFunc(out, func(a, b junit.Outcome) int { return strings.Compare(a.File, b.File) })
	count, seen := map[[2]string]int{}, map[[2]string]int{}
	for _, o := range out {
		count[[2]string{o.File, o.Name}]++
	}
	for i := range out {
		k := [2]string{out[i].File, out[i].Name}
		if count[k] > 1 {
			seen[k]++
			out[i].Name += fmt.Sprintf(" #%d", seen[k])
		}
	}
	return out
}

func (c *junitCollector) write(path string) error {
	return junit.WriteFile(path, junit.FromOutcomes("osupgrade features", c.outcomesByFile()))
}

// The features' JUnit comes from the scenarios' outcomes: one testsuite per
// feature file with its file, a timestamp and the sum of its scenarios'
// times, whatever order they ran in; failures name the step.
func TestFeaturesJUnitFromResults(t *testing.T) {
	features := []godog.Feature{
		{Name: "b.feature", Contents: []byte("Feature: Bees\n  Scenario: buzz\n    Given it passes\n  Scenario: sting\n    Given it fails\n  Scenario: swarm\n    Given nobody wrote this step\n")},
		{Name: "a.feature", Contents: []byte("Feature: Ants\n  Scenario: march\n    Given it passes\n  Scenario: carry\n    Given it passes\n    And it is skipped\n")},
	}
	tick := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	contents := map[string][]byte{}
	for _, f := range features {
		contents[f.Name] = f.Contents
	}
	c := &junitCollector{dir: "features", now: func() time.Time { tick = tick.Add(time.Second); return tick },
		read: func(uri string) ([]byte, error) { return contents[uri], nil }}
	suite := godog.TestSuite{
		Name: "junit",
		ScenarioInitializer: c.wrap(func(sc *godog.ScenarioContext) {
			sc.Step(`^it passes$`, func() error { return nil })
			sc.Step(`^it fails$`, func() error { return errors.New("the fleet said no") })
			sc.Step(`^it is skipped$`, func() error { return godog.ErrSkip })
		}),
		Options: &godog.Options{Format: "progress", Output: io.Discard, FeatureContents: features, Strict: true, Randomize: 7, NoColors: true},
	}
	if code := suite.Run(); code != 1 {
		t.Fatalf("godog exited %d, want 1 (a failing and an undefined step)", code)
	}
	out := filepath.Join(t.TempDir(), "features.junit.xml")
	if err := c.write(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc junit.Suites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b)
	}
	if doc.Tests != 5 || doc.Failures != 1 || doc.Errors != 1 || doc.Skipped != 1 || doc.Time != 5 {
		t.Errorf("document: %d tests, %d failures, %d errors, %d skipped, %.3fs; want 5, 1, 1, 1, 5s\n%s", doc.Tests, doc.Failures, doc.Errors, doc.Skipped, doc.Time, b)
	}
	want := map[string]struct {
		file  string
		cases int
	}{"Ants": {"features/a.feature", 2}, "Bees": {"features/b.feature", 3}}
	for _, s := range doc.Suites {
		w, ok := want[s.Name]
		if !ok || s.File != w.file || len(s.Cases) != w.cases || s.Time != float64(w.cases) || s.Timestamp == "" {
			t.Errorf("suite %s: file %s, %d cases, %.3fs, timestamp %q; want %+v and 1s a case", s.Name, s.File, len(s.Cases), s.Time, s.Timestamp, w)
		}
		for _, cs := range s.Cases {
			if cs.Time != 1 || cs.Classname != s.Name || cs.File != s.File || cs.Timestamp == "" {
				t.Errorf("case %+v: want 1s, classname %s, file %s, a timestamp", cs, s.Name, s.File)
			}
		}
	}
	cases := map[string]junit.Case{}
	for _, s := range doc.Suites {
		for _, cs := range s.Cases {
			cases[cs.Name] = cs
		}
	}
	if f := cases["sting"].Failure; f == nil || f.Message != "Step it fails: the fleet said no" {
		t.Errorf("sting: failure %+v", f)
	}
	if e := cases["swarm"].Error; e == nil || e.Type != "undefined" || !strings.Contains(e.Message, "nobody wrote this step") {
		t.Errorf("swarm: error %+v", e)
	}
	if cases["carry"].Skipped == nil || cases["march"].Failure != nil || cases["buzz"].Failure != nil {
		t.Errorf("carry skipped, march and buzz passed: %+v", cases)
	}
}
