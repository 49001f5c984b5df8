// Package junit writes test results as JUnit XML, the format CI systems
// display (Jenkins' JUnit plugin, GitHub's JUnit reporters, GitLab).
//
// A document holds one testsuite per file that defines tests: a scenario
// file for `osupgrade run` (its expectations are one testcase, each
// invariant another), a .feature file for the godog features (each
// scenario a testcase). That is the layout those tools group best (as
// Maven's one suite per test class): a suite's row names the file, every
// testcase carries file, timestamp and a classname and name that name its
// scenario, and a suite's time is the sum of its cases' (never negative,
// whatever order the cases ran in).
//
// It only renders results; it must not run anything.
package junit

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
)

// Suites is the document root.
type Suites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr,omitempty"`
	Time     float64  `xml:"time,attr"`
	// Timestamp is when the first test began (RFC 3339, UTC).
	Timestamp string  `xml:"timestamp,attr,omitempty"`
	Suites    []Suite `xml:"testsuite"`
}

// Suite is the tests of one file.
type Suite struct {
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr,omitempty"`
	Time       float64     `xml:"time,attr"`
	Timestamp  string      `xml:"timestamp,attr,omitempty"`
	File       string      `xml:"file,attr,omitempty"`
	Properties *Properties `xml:"properties,omitempty"`
	Cases      []Case      `xml:"testcase"`
}

// Properties wraps a suite's properties.
type Properties struct {
	Items []Property `xml:"property"`
}

// Property is a name/value pair of a suite (the fleet, the seed).
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Case is one check.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      float64  `xml:"time,attr"`
	File      string   `xml:"file,attr,omitempty"`
	Timestamp string   `xml:"timestamp,attr,omitempty"`
	Failure   *Failure `xml:"failure,omitempty"`
	Error     *Failure `xml:"error,omitempty"`
	Skipped   *Skipped `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
}

// Failure says what went wrong.
type Failure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// Skipped says why a test did not run to the end.
type Skipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// Status is how a test ended.
type Status string

// The statuses a testcase shows.
const (
	Passed Status = "passed"
	Failed Status = "failed" // a check did not hold: <failure>
	Error  Status = "error"  // it could not be checked (run error, undefined step): <error>
	Skip   Status = "skipped"
)

// Outcome is one finished test: what a testcase is rendered from.
type Outcome struct {
	Suite string // the testsuite's name (a scenario's or a feature's name)
	File  string // the file that defines the test, as CI links it
	Class string // the classname (a dotted path naming the scenario)
	Name  string // the testcase's name, which names its scenario too
	// Started is when the test began (zero: unknown); Duration how long
	// it took.
	Started  time.Time
	Duration time.Duration
	Status   Status
	Type     string // the failure's or error's type
	Message  string // one line: why it failed, errored or was skipped
	Detail   string // the whole story
	Output   string // system-out
}

// FromOutcomes builds a document named name with one testsuite per
// (file, suite name), in the order each first appears in outcomes, and the
// cases in each in the order given. props go to every suite.
func FromOutcomes(name string, outcomes []Outcome, props ...Property) Suites {
	doc := Suites{Name: name}
	index := map[[2]string]int{}
	var first []time.Time     // each suite's earliest start
	var spent []time.Duration // each suite's time, summed exactly
	var docFirst time.Time
	for _, o := range outcomes {
		key := [2]string{o.File, o.Suite}
		i, ok := index[key]
		if !ok {
			i = len(doc.Suites)
			index[key] = i
			s := Suite{Name: o.Suite, File: o.File}
			if len(props) > 0 {
				s.Properties = &Properties{Items: props}
			}
			doc.Suites = append(doc.Suites, s)
			first = append(first, time.Time{})
			spent = append(spent, 0)
		}
		s := &doc.Suites[i]
		d := max(o.Duration, 0).Round(time.Millisecond)
		c := Case{Name: o.Name, Classname: o.Class, File: o.File, Time: d.Seconds(), Timestamp: stamp(o.Started), SystemOut: o.Output}
		if c.Classname == "" {
			c.Classname = o.Suite
		}
		switch o.Status {
		case Failed:
			c.Failure = &Failure{Message: firstLine(o.Message), Type: o.Type, Text: o.Detail}
			s.Failures++
		case Error:
			c.Error = &Failure{Message: firstLine(o.Message), Type: o.Type, Text: o.Detail}
			s.Errors++
		case Skip:
			c.Skipped = &Skipped{Message: firstLine(o.Message)}
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
		spent[i] += d
		if !o.Started.IsZero() {
			if first[i].IsZero() || o.Started.Before(first[i]) {
				first[i] = o.Started
			}
			if docFirst.IsZero() || o.Started.Before(docFirst) {
				docFirst = o.Started
			}
		}
	}
	var total time.Duration
	for i := range doc.Suites {
		s := &doc.Suites[i]
		s.Timestamp = stamp(first[i])
		s.Time = spent[i].Seconds()
		total += spent[i]
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	doc.Time = total.Seconds()
	doc.Timestamp = stamp(docFirst)
	return doc
}

// FromResults builds the document of one run: one testsuite per scenario
// file; in it one testcase for the scenario's expectations and one per
// invariant. suite names the run (for example "osupgrade run" or
// "osupgrade chaos seed 7"); props go to every suite.
func FromResults(suite string, results []*harness.Result, props ...Property) Suites {
	return FromOutcomes(suite, ResultOutcomes(results), props...)
}

// ResultOutcomes lists the testcases of run results: per scenario its
// expectations, then each invariant.
func ResultOutcomes(results []*harness.Result) []Outcome {
	var out []Outcome
	for _, r := range results {
		wall, _ := time.ParseDuration(r.WallDuration)
		class := "scenario." + r.Scenario
		o := Outcome{Suite: r.Scenario, File: r.File, Class: class, Name: r.Scenario + " expectations", Started: r.WallStart, Duration: wall, Status: Passed,
			Output: fmt.Sprintf("fleet %s, seed %d, scenario time %s", r.Fleet, r.Seed, r.ScenarioDuration)}
		var bad []string
		for _, e := range r.Expectations {
			if !e.OK {
				bad = append(bad, fmt.Sprintf("%s %s: expected %s, got %s", e.ScaleSet, e.Field, e.Expected, e.Got))
			}
		}
		switch {
		case r.Error != "":
			o.Status, o.Type, o.Message, o.Detail = Error, "run error", r.Error, r.Error
		case len(bad) > 0:
			o.Status, o.Type, o.Message, o.Detail = Failed, "expectation", fmt.Sprintf("%d of %d expectations failed", len(bad), len(r.Expectations)), strings.Join(bad, "\n")
		}
		out = append(out, o)
		for _, inv := range r.Invariants {
			io := Outcome{Suite: r.Scenario, File: r.File, Class: class + ".invariants", Name: r.Scenario + " " + inv.ID, Started: r.WallStart, Status: Passed, Output: inv.Detail}
			if !inv.OK {
				io.Status, io.Type, io.Message, io.Detail, io.Output = Failed, "invariant "+inv.ID, inv.Detail, inv.Detail, ""
			}
			out = append(out, io)
		}
	}
	return out
}

// Write renders the document.
func Write(w io.Writer, doc Suites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteFile renders the document into path.
func WriteFile(path string, doc Suites) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, doc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stamp is a timestamp attribute: RFC 3339 to the second, UTC ("" for
// the zero time). Its first 19 characters are the Ant schema's form.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
