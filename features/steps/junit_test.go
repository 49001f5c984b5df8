package steps

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/reports/junit"
)

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
	c := &JUnit{dir: "features", now: func() time.Time { tick = tick.Add(time.Second); return tick },
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
	if err := c.Write(out); err != nil {
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
