package features

import (
	"cmp"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/features/steps"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/orchestrator/backend"

	// The backends the features run on (OSUPGRADE_FLEET), registered by
	// name.
	_ "github.com/osupgrade/osupgrade/fakes/backends"
)

// reportDir is where the junit and cucumber reports go; godog resolves
// report paths from the package directory.
const reportDir = "../reports/out"

// fleetFromEnv is OSUPGRADE_FLEET, a registered backend: "sim" (default)
// runs every scenario on the simulated fleet; a wall-clock backend
// ("docker") runs the @docker scenarios, sized for real processes.
func fleetFromEnv() (string, backend.Factory, error) {
	name := cmp.Or(os.Getenv("OSUPGRADE_FLEET"), harness.DefaultFleet)
	f, err := backend.Lookup(name)
	if err != nil {
		return "", f, fmt.Errorf("OSUPGRADE_FLEET: %w", err)
	}
	return name, f, nil
}

func TestFeatures(t *testing.T) {
	fleet, fb, err := fleetFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	tags := ""
	if fb.Clock == backend.WallClock {
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
		Config:    steps.Config{Fleet: fleet},
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
