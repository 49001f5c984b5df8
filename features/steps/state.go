package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// Defaults a scenario gets unless a step says otherwise (features/README.md).
const (
	defaultImage    = "Canonical:UbuntuServer:18.04-LTS:latest"
	defaultRunning  = "18.04.202101010"
	defaultNew      = "18.04.202102010"
	galleryRunning  = "1.0.0"
	galleryNew      = "1.0.1"
	defaultPublish  = 4 * time.Hour // after the one-time delay: the first rollout starts on publication
	defaultGrace    = 5 * time.Second
	scenarioSeed    = 7
	afterLastAction = 7 * 24 * time.Hour
	// dockerTimeScale is scenario seconds per wall second on containers: the
	// 5-minute health wait is 15 s of wall time, room for a loaded machine.
	dockerTimeScale = 20
)

// state is one scenario: the scenario file its Given steps build, then what
// the run left. A Before hook replaces it for every scenario.
type state struct {
	fleet  string
	docker backend.Factory // the fleet's factory; zero: the one registered as fleet
	// adjust, when set, changes the harness options of the run (Config.Harness).
	adjust func(harness.Options) harness.Options

	file scenario.File
	cur  int // index in file.ScaleSets of the set "it" refers to
	// newVersion is the version the last "a new image version" step published.
	newVersion string
	published  map[string]time.Duration // version -> publishAt
	// dueUnhealthy are faults that last until a minute after the new version is published.
	dueUnhealthy []int
	allowReject  bool
	until        time.Duration

	world     *harness.World
	result    *harness.Result
	runErr    error
	updateErr error
}

func newState(fleet string, docker backend.Factory, sc *godog.Scenario) *state {
	return &state{
		fleet:     fleet,
		docker:    docker,
		file:      scenario.File{Name: fileName(sc.Name), Seed: ptr(uint64(scenarioSeed))},
		cur:       -1,
		published: map[string]time.Duration{},
	}
}

var notName = regexp.MustCompile(`[^a-z0-9]+`)

// fileName turns a scenario title into a scenario file name.
func fileName(title string) string {
	n := strings.Trim(notName.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(n) > 60 {
		n = strings.TrimRight(n[:60], "-")
	}
	if n == "" {
		n = "feature"
	}
	return n
}

func ptr[T any](v T) *T { return &v }

// set is the scale set "it" refers to.
func (s *state) set() (*scenario.ScaleSet, error) {
	if s.cur < 0 {
		return nil, errors.New("no scale set yet: start with `Given a scale set of N instances`")
	}
	return &s.file.ScaleSets[s.cur], nil
}

// named finds a scale set by name; "" is the first one.
func (s *state) named(name string) (*scenario.ScaleSet, error) {
	if len(s.file.ScaleSets) == 0 {
		return nil, errors.New("no scale set declared")
	}
	if name == "" {
		return &s.file.ScaleSets[0], nil
	}
	for i := range s.file.ScaleSets {
		if s.file.ScaleSets[i].Name == name {
			return &s.file.ScaleSets[i], nil
		}
	}
	return nil, fmt.Errorf("no scale set %q in this scenario", name)
}

func (s *state) at(d time.Duration) *scenario.Duration { return &scenario.Duration{Duration: d} }

// addEntry appends a timeline entry.
func (s *state) addEntry(e scenario.Entry) { s.file.Timeline = append(s.file.Timeline, e) }

// finish fills what the Given steps left open, just before the run.
func (s *state) finish() {
	publish := time.Duration(0)
	for _, d := range s.published {
		publish = max(publish, d)
	}
	if len(s.dueUnhealthy) > 0 {
		s.addEntry(scenario.Entry{At: s.at(0), Fault: "unhealthy", Instances: s.dueUnhealthy, Duration: scenario.Duration{Duration: s.published[s.newVersion] + time.Minute}})
		s.dueUnhealthy = nil
	}
	if s.until > 0 {
		s.file.Until = s.at(s.until)
		return
	}
	last := publish
	for _, e := range s.file.Timeline {
		if e.At != nil {
			last = max(last, e.At.Duration+e.Duration.Duration)
		}
	}
	s.file.Until = s.at(last + afterLastAction)
}

// run builds the world and drives it to the end, as `osupgrade run` does.
func (s *state) run(ctx context.Context) error {
	s.finish()
	if s.allowReject {
		for i := range s.file.ScaleSets {
			s.file.ScaleSets[i].Expect = &scenario.Expect{Status: "Rejected"}
		}
	}
	opts := harness.Options{Fleet: s.fleet, Backend: s.docker, RunPrefix: runPrefix, TimeScale: dockerTimeScale}
	if s.adjust != nil {
		opts = s.adjust(opts)
	}
	w, err := harness.NewWorld(ctx, &s.file, opts)
	if err != nil {
		return fmt.Errorf("build the world: %w", err)
	}
	s.world = w
	runErr := w.Run(ctx, opts)
	r, err := w.Result(ctx)
	if err != nil {
		return fmt.Errorf("read the result: %w", err)
	}
	s.result = r
	if runErr != nil {
		return fmt.Errorf("the run failed: %w", runErr)
	}
	if s.until == 0 && len(r.Problems) > 0 {
		return fmt.Errorf("the run reported problems: %s", strings.Join(r.Problems, "; "))
	}
	return nil
}

// closeWorld releases the fleet (containers on docker).
func (s *state) closeWorld(ctx context.Context) error {
	if s.world == nil {
		return nil
	}
	return s.world.Close(context.WithoutCancel(ctx))
}

// setResult is one scale set's outcome.
func (s *state) setResult(name string) (*harness.SetResult, error) {
	if s.result == nil {
		return nil, errors.New("nothing ran yet: add `When the scenario runs`")
	}
	if name == "" {
		name = s.file.ScaleSets[0].Name
	}
	for i := range s.result.ScaleSets {
		if s.result.ScaleSets[i].Name == name {
			return &s.result.ScaleSets[i], nil
		}
	}
	return nil, fmt.Errorf("no result for scale set %q", name)
}

// lastBatches are the batches of a set's last rollout.
func lastBatches(sr *harness.SetResult) []harness.BatchResult {
	if len(sr.Batches) == 0 {
		return nil
	}
	a := sr.Batches[len(sr.Batches)-1].Attempt
	var out []harness.BatchResult
	for _, b := range sr.Batches {
		if b.Attempt == a {
			out = append(out, b)
		}
	}
	return out
}

// lastHistory is the newest osUpgradeHistory entry.
func lastHistory(sr *harness.SetResult) (*orchestrator.UpgradeHistory, error) {
	if len(sr.History) == 0 {
		return nil, fmt.Errorf("scale set %s has no upgrade history", sr.Name)
	}
	return &sr.History[0], nil
}

// instance finds an instance of a result by id.
func instance(sr *harness.SetResult, id int) (*harness.InstanceResult, error) {
	want := strconv.Itoa(id)
	for i := range sr.Instances {
		if sr.Instances[i].ID == want {
			return &sr.Instances[i], nil
		}
	}
	return nil, fmt.Errorf("scale set %s has no instance %d in the result", sr.Name, id)
}

// timeOf reads a result timestamp as an offset from the scenario start.
func (s *state) timeOf(stamp string) (time.Duration, error) {
	t, err := time.Parse(time.RFC3339, stamp)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", stamp, err)
	}
	return t.Sub(s.result.Start), nil
}

// events lists the rollout events of a set (all attempts) with the given name.
func (s *state) events(set, name string) []harness.EventRecord {
	var out []harness.EventRecord
	for _, e := range s.result.Events {
		if e.Set == set && e.Event == name {
			out = append(out, e)
		}
	}
	return out
}

var listSep = regexp.MustCompile(`\s*(?:,|\band\b)\s*`)

// ids reads "0, 5 and 10".
func ids(list string) ([]int, error) {
	var out []int
	for _, p := range listSep.Split(strings.TrimSpace(list), -1) {
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not a list of instance ids like 0, 5 and 10", list)
		}
		out = append(out, n)
	}
	return out, nil
}

// names reads `"1", "2" and "3"`.
func names(list string) []string {
	var out []string
	for _, p := range listSep.Split(strings.TrimSpace(list), -1) {
		if p = strings.Trim(p, `"`); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// duration reads 30s, 4m59s, 4h, 30d or 1d12h, as scenario files do.
func duration(s string) (time.Duration, error) { return scenario.ParseDuration(s) }

func formatIDs(v []string) string { return strings.Join(v, ", ") }

func sameInts(a []int, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strconv.Itoa(a[i]) != b[i] {
			return false
		}
	}
	return true
}

func contains(list []string, v string) bool { return slices.Contains(list, v) }
