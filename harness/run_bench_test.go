package harness

import (
	"context"
	"fmt"
	"testing"

	"github.com/osupgrade/osupgrade/harness/scenario"
)

// BenchmarkFaultFreeRollout is a whole simulated rollout; the per-instance
// figures are what the ≤ 1 s and ≤ 512 B per instance targets at 10^6 read.
func BenchmarkFaultFreeRollout(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			src := fmt.Sprintf(`name: bench
scaleSets:
  - {name: s, instances: %d, zones: ["1", "2", "3"], image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
expect: {status: Completed}
`, n)
			sc, err := scenario.Parse("bench.yaml", []byte(src), Vocabulary())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r, err := Run(context.Background(), sc, Options{})
				if err != nil || !r.OK {
					b.Fatalf("run: %v %+v", err, r.Expectations)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/instance")
		})
	}
}
