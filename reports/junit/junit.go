// Package junit writes run results as JUnit XML, the format CI systems
// display: one testsuite per run, one testcase per scenario (its
// expectations) and one per invariant of each scenario.
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
	Time     float64  `xml:"time,attr"`
	Suites   []Suite  `xml:"testsuite"`
}

// Suite is one run of scenarios.
type Suite struct {
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Time       float64     `xml:"time,attr"`
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
	Failure   *Failure `xml:"failure,omitempty"`
	Error     *Failure `xml:"error,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
}

// Failure says what went wrong.
type Failure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// FromResults builds the document of one run: suite is its name (for
// example "osupgrade run" or "osupgrade chaos seed 7"), props its
// properties.
func FromResults(suite string, results []*harness.Result, props ...Property) Suites {
	s := Suite{Name: suite}
	if len(props) > 0 {
		s.Properties = &Properties{Items: props}
	}
	for _, r := range results {
		wall := seconds(r.WallDuration)
		class := "scenario." + r.Scenario
		c := Case{Name: r.Scenario + " expectations", Classname: class, Time: wall}
		var bad []string
		for _, e := range r.Expectations {
			if !e.OK {
				bad = append(bad, fmt.Sprintf("%s %s: expected %s, got %s", e.ScaleSet, e.Field, e.Expected, e.Got))
			}
		}
		switch {
		case r.Error != "":
			c.Error = &Failure{Message: firstLine(r.Error), Type: "run error", Text: r.Error}
			s.Errors++
		case len(bad) > 0:
			c.Failure = &Failure{Message: fmt.Sprintf("%d of %d expectations failed", len(bad), len(r.Expectations)), Type: "expectation", Text: strings.Join(bad, "\n")}
			s.Failures++
		}
		c.SystemOut = fmt.Sprintf("fleet %s, seed %d, scenario time %s", r.Fleet, r.Seed, r.ScenarioDuration)
		s.Cases = append(s.Cases, c)
		for _, inv := range r.Invariants {
			ic := Case{Name: r.Scenario + " " + inv.ID, Classname: class + ".invariants"}
			if !inv.OK {
				ic.Failure = &Failure{Message: firstLine(inv.Detail), Type: "invariant " + inv.ID, Text: inv.Detail}
				s.Failures++
			} else {
				ic.SystemOut = inv.Detail
			}
			s.Cases = append(s.Cases, ic)
		}
		s.Time += wall
	}
	s.Tests = len(s.Cases)
	return Suites{Name: suite, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: s.Time, Suites: []Suite{s}}
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

func seconds(d string) float64 {
	v, err := time.ParseDuration(d)
	if err != nil {
		return 0
	}
	return v.Seconds()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
