// Package steps is osupgrade's Gherkin step vocabulary: the steps that turn
// a .feature scenario into a scenario file (Given), run it through the
// harness on the simulated fleet or on containers (When), and check what the
// run left (Then). The repository's own features (features/*.feature, run by
// TestFeatures) and a user's (`osupgrade features`) run through the same
// Initializer and Options.
//
// The steps drive the harness only: they never reach into the planner.
package steps

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// Config is how a suite runs its scenarios.
type Config struct {
	// Fleet names the backend every scenario runs on (package backend's
	// registry; default harness.DefaultFleet).
	Fleet string
	// Backend, when it has an Open, stands in for the backend registered
	// as Fleet.
	Backend backend.Factory
	// Harness, when set, changes the harness options of every run (the
	// planted-bug self-test of features/ plants its bugs here).
	Harness func(harness.Options) harness.Options
	// Failed, when set, hears the name of every scenario that failed.
	Failed func(name string)
}

// Initializer registers every step on a state that a Before hook resets for
// each scenario; an After hook releases the scenario's fleet.
func Initializer(c Config) func(*godog.ScenarioContext) {
	fleet := cmp.Or(c.Fleet, harness.DefaultFleet)
	docker := c.Backend
	return func(sc *godog.ScenarioContext) {
		s := &state{}
		sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
			*s = *newState(fleet, docker, p)
			s.adjust = c.Harness
			return ctx, nil
		})
		sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
			if err != nil && c.Failed != nil {
				c.Failed(p.Name)
			}
			return ctx, s.closeWorld(ctx)
		})
		for _, g := range groups {
			g.register(s, sc)
		}
	}
}

// Suite is a run of feature files: the options TestFeatures and
// `osupgrade features` share.
type Suite struct {
	Config
	Paths []string
	// Format is godog's: "pretty", "junit:FILE", "cucumber:FILE", comma-separated.
	Format string
	// Output receives the formats without a file.
	Output io.Writer
	// Tags is a godog tag expression ("@docker", "~@slow", "@a && @b").
	Tags string
	// Randomize is the scenario order's seed: 0 file order, -1 a random one.
	Randomize int64
	Colors    bool
	// TestingT runs each scenario as a subtest.
	TestingT *testing.T
	// Context is every scenario's starting context (nil: Background):
	// cancelling it stops the runs.
	Context context.Context
	// JUnit, when set, records every scenario's outcome for a JUnit
	// report written from results (use it instead of godog's junit format).
	JUnit *JUnit
}

// TestSuite is the godog suite: Strict, so that an undefined or pending
// step fails the run.
func (s Suite) TestSuite() godog.TestSuite {
	init := Initializer(s.Config)
	if s.JUnit != nil {
		init = s.JUnit.wrap(init)
	}
	return godog.TestSuite{
		Name:                "osupgrade",
		ScenarioInitializer: init,
		Options: &godog.Options{
			Format:    s.Format,
			Output:    s.Output,
			Paths:     s.Paths,
			Tags:      s.Tags,
			Strict:    true,
			Randomize: s.Randomize,
			NoColors:  !s.Colors,
			TestingT:  s.TestingT,

			DefaultContext: s.Context,
		},
	}
}

// Definition is one step of the vocabulary.
type Definition struct {
	// Noun is what the step is about ("scale sets", "faults", ...).
	Noun string
	// Pattern is the regular expression godog matches the step's text with.
	Pattern string
	// Help says what the step declares or checks, in one line.
	Help string
}

// Vocabulary lists every step, grouped by noun, in the order godog tries
// them.
func Vocabulary() []Definition {
	var out []Definition
	s := &state{}
	for _, g := range groups {
		g.register(s, lister{noun: g.noun, list: &out})
	}
	return out
}

// groups are the steps by noun, in the order they are registered: godog
// takes the first pattern that matches.
var groups = []struct {
	noun     string
	register func(*state, stepper)
}{
	{"scale sets", (*state).fleetSteps},
	{"image versions", (*state).imageSteps},
	{"faults", (*state).faultSteps},
	{"the user, running, rollouts, batches and instances", (*state).rolloutSteps},
	{"gates", (*state).gateSteps},
	{"upgrade history", (*state).historySteps},
	{"invariants", (*state).invariantSteps},
}

// stepper registers steps: a *godog.ScenarioContext, which records where
// each step is registered (its pretty output shows it), or a lister.
type stepper interface {
	Step(expr, stepFunc any)
}

// lister lists the steps it is given, with their help.
type lister struct {
	noun string
	list *[]Definition
}

func (l lister) Step(expr, fn any) {
	pattern := fmt.Sprint(expr)
	*l.list = append(*l.list, Definition{Noun: l.noun, Pattern: pattern, Help: help[handlerName(fn)]})
}

// handlerName is the name of the method a step runs ("aScaleSet" for the
// method value s.aScaleSet).
func handlerName(fn any) string {
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	if f == nil {
		return ""
	}
	name := strings.TrimSuffix(f.Name(), "-fm")
	return name[strings.LastIndex(name, ".")+1:]
}

// runPrefix starts the run id of a scenario's fleet resources (the
// harness adds the scenario's name, cut short, and a random suffix).
const runPrefix = "f-"
