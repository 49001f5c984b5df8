package steps

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
	"time"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/reports/junit"
)

// JUnit records every scenario's outcome through godog's hooks and writes
// the features' JUnit from those outcomes. godog's own junit format times a
// feature from the first to the last of its scenarios in file order, so in
// random order its suite times come out negative (and v0.16 can mark a
// failing scenario passed); here a suite's time is the sum of its
// scenarios' and each scenario is timed from its Before hook to its last
// After hook (teardown included). Give it to Suite.JUnit, run the suite,
// then Write or WriteTo. godog may run scenarios concurrently, hence the
// lock.
type JUnit struct {
	dir  string                       // what feature URIs are relative to, as CI links files
	now  func() time.Time             // the wall clock
	read func(string) ([]byte, error) // reads a feature file by its URI

	mu       sync.Mutex
	outcomes []junit.Outcome
	features map[string]string // feature URI → the feature's name
}

// NewJUnit is a collector whose feature files' paths are reported relative
// to dir (as CI links them), timed by now.
func NewJUnit(dir string, now func() time.Time) *JUnit {
	return &JUnit{dir: dir, now: now, read: os.ReadFile}
}

func (c *JUnit) wrap(inner func(*godog.ScenarioContext)) func(*godog.ScenarioContext) {
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

func (c *JUnit) add(p *godog.Scenario, started, ended time.Time, bad *godog.Step, err error) {
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
func (c *JUnit) featureName(uri string) string {
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
func (c *JUnit) outcomesByFile() []junit.Outcome {
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

// Write writes the JUnit document into path.
func (c *JUnit) Write(path string) error {
	return junit.WriteFile(path, c.document())
}

// WriteTo writes the JUnit document to w.
func (c *JUnit) WriteTo(w io.Writer) (int64, error) {
	b, err := xml.MarshalIndent(c.document(), "", "  ")
	if err != nil {
		return 0, err
	}
	n, err := fmt.Fprintf(w, "%s%s\n", xml.Header, b)
	return int64(n), err
}

func (c *JUnit) document() junit.Suites {
	return junit.FromOutcomes("osupgrade features", c.outcomesByFile())
}
