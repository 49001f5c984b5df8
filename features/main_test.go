package features

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/features/steps"
	"github.com/osupgrade/osupgrade/harness"
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
	// The JUnit is written from the scenarios' outcomes (steps.JUnit), not
	// by godog's junit format: its suite times go negative in random order.
	report := steps.NewJUnit("features", time.Now)
	t.Cleanup(func() {
		if err := report.Write(fmt.Sprintf("%s/features-%s.junit.xml", reportDir, fleet)); err != nil {
			t.Errorf("features JUnit: %v", err)
		}
	})
	suite := steps.Suite{
		Config:    steps.Config{Fleet: fleet, Docker: dockerFleet},
		JUnit:     report,
		Format:    fmt.Sprintf("pretty,cucumber:%s/features-%s.cucumber.json", reportDir, fleet),
		Paths:     []string{"."},
		Tags:      tags,
		Randomize: order,
		TestingT:  t,
	}.TestSuite()
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
