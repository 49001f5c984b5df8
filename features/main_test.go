package features

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// reportDir is where the junit and cucumber reports go; godog resolves
// report paths from the package directory.
const reportDir = "../reports/out"

// dockerFleet builds the Docker fleet for @docker scenarios; a file of this
// package sets it when the Docker fleet is compiled in (fleet_docker_test.go).
var dockerFleet harness.DockerFactory

// fleetFromEnv is OSUPGRADE_FLEET: "sim" (default) runs every scenario on the
// simulated fleet; "docker" runs the @docker scenarios on containers.
func fleetFromEnv() (string, error) {
	switch f := os.Getenv("OSUPGRADE_FLEET"); f {
	case "", "sim":
		return "sim", nil
	case "docker":
		return "docker", nil
	default:
		return "", fmt.Errorf("OSUPGRADE_FLEET is %q, want sim or docker", f)
	}
}

func TestFeatures(t *testing.T) {
	fleet, err := fleetFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	tags := ""
	if fleet == "docker" {
		if dockerFleet == nil {
			t.Fatal("OSUPGRADE_FLEET=docker, but the Docker fleet is not wired into features/ (no fakes/docker factory): @docker scenarios cannot run on containers")
		}
		tags = "@docker"
	}
	order, err := randomSeed()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		t.Fatal(err)
	}
	suite := godog.TestSuite{
		Name:                "osupgrade",
		ScenarioInitializer: junitFromResults(t, fmt.Sprintf("%s/features-%s.junit.xml", reportDir, fleet), initializer(config{fleet: fleet, docker: dockerFleet})),
		Options: &godog.Options{
			Format:    fmt.Sprintf("pretty,cucumber:%s/features-%s.cucumber.json", reportDir, fleet),
			Paths:     []string{"."},
			Tags:      tags,
			Strict:    true,
			Randomize: order,
			NoColors:  true,
			TestingT:  t,
		},
	}
	if code := suite.Run(); code != 0 {
		t.Fatalf("godog exited %d", code)
	}
}

// randomSeed is the scenario order: OSUPGRADE_FEATURES_SEED replays the
// order a run printed; otherwise a random one (-1).
func randomSeed() (int64, error) {
	v := os.Getenv("OSUPGRADE_FEATURES_SEED")
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("OSUPGRADE_FEATURES_SEED is %q, want the non-zero seed a run printed", v)
	}
	return n, nil
}

// config is how a suite runs its scenarios.
type config struct {
	fleet  string // sim or docker: where @docker scenarios run
	docker harness.DockerFactory
	// bugs are planted in the planner and the fleet (the planted-bug test).
	bugs plan.Mutations
	// failed, when set, hears the name of every scenario that failed.
	failed func(name string)
}

// initializer registers every step on a state that a Before hook resets for
// each scenario. Scenarios tagged @docker run on containers when the fleet
// is docker, on the simulated fleet otherwise.
func initializer(c config) func(*godog.ScenarioContext) {
	return func(sc *godog.ScenarioContext) {
		s := &state{}
		sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
			f := "sim"
			if c.fleet == "docker" && hasTag(p, "@docker") {
				f = "docker"
			}
			*s = *newState(f, c.docker, p)
			s.bugs = c.bugs
			return ctx, nil
		})
		sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
			if err != nil && c.failed != nil {
				c.failed(p.Name)
			}
			return ctx, s.closeWorld(ctx)
		})
		s.fleetSteps(sc)
		s.imageSteps(sc)
		s.faultSteps(sc)
		s.rolloutSteps(sc)
		s.gateSteps(sc)
		s.historySteps(sc)
		s.invariantSteps(sc)
	}
}

func hasTag(p *godog.Scenario, tag string) bool {
	for _, t := range p.Tags {
		if t.Name == tag {
			return true
		}
	}
	return false
}
