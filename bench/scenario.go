package bench

import (
	"fmt"
	"strings"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Mix is a fault mix a simulated rollout runs under.
type Mix string

const (
	// FaultFree: one manual rollout, nothing goes wrong.
	FaultFree Mix = "none"
	// StandardMix: the same rollout while 5% of instances boot 2 minutes
	// slower, 1% report an unhealthy app for the first 20 minutes (they time
	// out, are rolled back, and those in the first batch stay unhealthy),
	// and 1% crash for 3 minutes when batch 2 starts. It stays under every
	// 20% gate, so the rollout completes, later than the lower bound.
	StandardMix Mix = "standard"
)

// Mixes are the fault mixes the benchmarks run, in report order.
var Mixes = []Mix{FaultFree, StandardMix}

// ParseMix reads a mix name.
func ParseMix(s string) (Mix, error) {
	for _, m := range Mixes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown fault mix %q (want none or standard)", s)
}

// standardMixTimeline is StandardMix's faults, after the manual trigger.
const standardMixTimeline = `
  - {at: 0s, fault: slow-boot, percent: 5, delay: 2m, duration: 6h}
  - {at: 0s, fault: unhealthy, percent: 1, duration: 20m}
  - {on: "batch 2 started", fault: crash, percent: 1, duration: 3m}`

// SimScenario is the benchmark scenario of n instances in three zones (five
// update domains each) under mix: one new platform version, a manual trigger
// at 0s, the model's defaults (30 s boot, 5 s health grace, 20% gates).
func SimScenario(n int, mix Mix) (*scenario.File, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: %d instances, want at least 1", n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `name: bench-sim-%s-%d
seed: 1
scaleSets:
  - {name: bench, instances: %d, zones: ["1", "2", "3"], image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}`, mix, n, n)
	switch mix {
	case FaultFree:
		b.WriteString("\nexpect: {status: Completed, failed: 0}\n")
	case StandardMix:
		b.WriteString(standardMixTimeline)
		b.WriteString("\nexpect: {status: Completed}\n")
	default:
		return nil, fmt.Errorf("bench: unknown fault mix %q", mix)
	}
	return scenario.Parse(fmt.Sprintf("bench-%s-%d.yaml", mix, n), []byte(b.String()), harness.Vocabulary())
}
